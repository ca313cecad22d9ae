// The root package's preinstall: on an unsupported Node.js, one line that says which versions are
// supported, before npm installs anything (plain CommonJS, so that any old Node can run it).
'use strict';
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`resnet-serverless needs Node.js 24 (the Lambda runtime) or 22.12+ for development; this is Node.js ${process.versions.node}.`);
  process.exit(1);
}
