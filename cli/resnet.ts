#!/usr/bin/env node
// Entry point of the `resnet` binary; the commands live in program.ts so tests can import them.
import { main } from './program.js';

await main(process.argv);
