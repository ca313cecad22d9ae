#!/usr/bin/env node
/**
 * Standalone entry of the batch worker (`node dist/batch/main.js batch <input> ...`), for tests
 * and for images that ship only the worker; the `resnet` CLI mounts the same command.
 */
import { Command } from 'commander';

import { registerBatchCommand } from './command.js';

const program = new Command('resnet').exitOverride((err) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});
registerBatchCommand(program);
await program.parseAsync(process.argv);
