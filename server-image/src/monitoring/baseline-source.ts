// Fetches and reads `serve --baseline`: the same URI kinds, download limits and SHA-256 check as the model
// (model/source.ts), then the format's checks (baseline.ts). Any failure is a BaselineError that starts
// with the URI and names the field or the reason.
import { readFile } from 'node:fs/promises';
import { resolveModel, type ResolveOptions } from '../model/source.ts';
import { BaselineError, parseBaseline, type Baseline } from './baseline.ts';

export async function loadBaseline(uri: string, options: Omit<ResolveOptions, 'what'>): Promise<Baseline> {
  let text: string;
  try {
    text = await readFile(await resolveModel(uri, { ...options, what: 'baseline' }), 'utf8');
  } catch (error) {
    throw new BaselineError((error as Error).message);
  }
  try {
    return parseBaseline(text);
  } catch (error) {
    throw new BaselineError(`baseline ${uri}: ${(error as Error).message}`);
  }
}
