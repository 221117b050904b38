#!/usr/bin/env node
// Entry point: Node.js (>= 22.18) runs the TypeScript sources directly.
import { main } from '../src/cli.ts';

process.exitCode = await main(process.argv.slice(2));
