#!/usr/bin/env node
// Entry point: Node.js (>= 22.18) runs the TypeScript sources directly.
import { main } from '../src/cli.ts';

const code = await main(process.argv.slice(2));
// Exit explicitly: a model worker still loading when shutdown came must not keep the process alive.
process.exit(code);
