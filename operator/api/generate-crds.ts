// `make crds`: writes crds/modeldeployment.yaml from the TypeScript schema.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { modelDeploymentCrdYaml } from './crd.ts';

const target = fileURLToPath(new URL('../../crds/modeldeployment.yaml', import.meta.url));
writeFileSync(target, modelDeploymentCrdYaml());
console.log(`wrote ${target}`);
