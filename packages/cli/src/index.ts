/** @verity/cli: the `verity` command line, callable in-process for tests and tools. */
export * from './command.js';
export * from './errors.js';
export * from './run-cli.js';
export * from './client.js';
