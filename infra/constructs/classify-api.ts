/**
 * The classify HTTP API: POST /classify, GET /model, POST /uploads, GET /results/{key+} on the
 * classify-api function. IAM authorisation by default (JWT or a Cognito user pool by context; no
 * authoriser only with the explicit publicApi=true), stage throttling on every route, JSON access
 * logs, and CORS only when origins are configured.
 */
import { CfnOutput, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as authorizers from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag-suppressions.js';
import type { ApiAuth } from '../config.js';
import type { ClassifierFunction } from './classifier-function.js';

/** Props of {@link ClassifyApi}. */
export interface ClassifyApiProps {
  readonly handler: ClassifierFunction;
  /** 'none' opens the API to the internet (the stack sets it only for publicApi=true). */
  readonly auth: ApiAuth;
  /** Required for 'jwt'. */
  readonly jwtIssuer?: string;
  /** Required for 'jwt'. */
  readonly jwtAudience?: readonly string[];
  /** @default undefined (no CORS) */
  readonly corsOrigins?: readonly string[];
  /** Requests per second. */
  readonly rateLimit: number;
  /** Requests. */
  readonly burstLimit: number;
  readonly logRetentionDays: number;
}

export class ClassifyApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;
  /** Present when auth is 'cognito'. */
  readonly userPool?: cognito.UserPool;

  constructor(scope: Construct, id: string, props: ClassifyApiProps) {
    super(scope, id);
    let defaultAuthorizer: apigw.IHttpRouteAuthorizer;
    if (props.auth === 'jwt') {
      defaultAuthorizer = new authorizers.HttpJwtAuthorizer('Jwt', props.jwtIssuer ?? '', { jwtAudience: [...(props.jwtAudience ?? [])] });
    } else if (props.auth === 'cognito') {
      this.userPool = new cognito.UserPool(this, 'Users', {
        selfSignUpEnabled: false,
        signInAliases: { email: true },
        passwordPolicy: { minLength: 12, requireDigits: true, requireLowercase: true, requireUppercase: true, requireSymbols: true },
        mfa: cognito.Mfa.OPTIONAL,
        mfaSecondFactor: { sms: false, otp: true },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      acknowledge(this.userPool, [
        ['AwsSolutions-COG2', 'MFA is optional (TOTP) rather than required: API callers are often machine clients; require it in the pool settings where people sign in.'],
        ['AwsSolutions-COG8', 'Threat protection needs the Cognito Plus feature plan (paid per MAU); left to the operator, the pool works on Essentials.'],
      ]);
      // adminUserPassword lets a deployer with IAM rights on the pool get a token from the CLI
      // (admin-initiate-auth; README "Calling the API"); apps sign their users in with SRP.
      const client = this.userPool.addClient('Client', { authFlows: { userSrp: true, adminUserPassword: true }, generateSecret: false });
      defaultAuthorizer = new authorizers.HttpUserPoolAuthorizer('Cognito', this.userPool, { userPoolClients: [client] });
      new CfnOutput(this, 'UserPoolId', { value: this.userPool.userPoolId });
      new CfnOutput(this, 'UserPoolClientId', { value: client.userPoolClientId });
    } else if (props.auth === 'none') {
      defaultAuthorizer = new apigw.HttpNoneAuthorizer();
    } else {
      defaultAuthorizer = new authorizers.HttpIamAuthorizer();
    }

    this.api = new apigw.HttpApi(this, 'Api', {
      description: 'ResNet image classification',
      createDefaultStage: false,
      defaultAuthorizer,
      corsPreflight: props.corsOrigins?.length ? {
        allowOrigins: [...props.corsOrigins],
        allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.OPTIONS],
        allowHeaders: ['authorization', 'content-type', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256'],
        maxAge: Duration.hours(1),
      } : undefined,
    });
    acknowledge(props.handler, [['Serverless-LambdaDLQ', 'Invoked synchronously by API Gateway: the caller gets the error response; there is no asynchronous event to dead-letter.']]);
    const integration = new HttpLambdaIntegration('Classify', props.handler.fn);
    this.api.addRoutes({ path: '/classify', methods: [apigw.HttpMethod.POST], integration });
    this.api.addRoutes({ path: '/model', methods: [apigw.HttpMethod.GET], integration });
    this.api.addRoutes({ path: '/uploads', methods: [apigw.HttpMethod.POST], integration });
    this.api.addRoutes({ path: '/results/{key+}', methods: [apigw.HttpMethod.GET], integration });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit, burstLimit: props.burstLimit },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId', ip: '$context.identity.sourceIp', caller: '$context.identity.caller',
          user: '$context.identity.user', requestTime: '$context.requestTime', httpMethod: '$context.httpMethod',
          routeKey: '$context.routeKey', status: '$context.status', protocol: '$context.protocol',
          responseLength: '$context.responseLength', integrationLatency: '$context.integrationLatency',
          integrationError: '$context.integrationErrorMessage', authorizerError: '$context.authorizer.error',
        })),
      },
    });
    if (props.auth === 'none') {
      const why = 'publicApi=true: the operator chose an open demo API; stage throttling still bounds the request rate.';
      acknowledge(this.api, [['AwsSolutions-APIG4', why]]);
    }
    new CfnOutput(this, 'Url', { value: this.api.apiEndpoint, description: 'Classify API endpoint' });
    new CfnOutput(this, 'Auth', {
      value: props.auth,
      description: props.auth === 'iam' ? 'Sign requests with SigV4 (service execute-api) as an IAM principal allowed execute-api:Invoke'
        : props.auth === 'none' ? 'Open to the internet (publicApi=true)' : 'Send Authorization: Bearer <token>',
    });
  }
}
