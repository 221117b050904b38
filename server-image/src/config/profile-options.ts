// Loading the settings of `modelship-server profile` from flags, MODELSHIP_* variables and a YAML file.
import { PROFILE_OPTIONS, type ProfileOptions } from '../../../contract/settings/profile-options.ts';
import { optionsLoader } from './load.ts';

export type { ProfileOptions };

const profileLoader = optionsLoader(PROFILE_OPTIONS, {
  usage: 'Usage: modelship-server profile --model URI --data FILE --out baseline.json [options]',
  required: ['model', 'data', 'out'],
});

export function loadProfileOptions(argv: string[], env: NodeJS.ProcessEnv): ProfileOptions {
  return profileLoader.load(argv, env);
}

export function profileHelp(): string {
  return profileLoader.help();
}
