#!/usr/bin/env node
// The operator's CLI (`modelship render`, `modelship validate`, `modelship operator`) is built with the
// operator itself; until then this entry point says so instead of pretending to work.
console.error('modelship: the operator CLI is not built yet; the model server is `modelship-server`.');
process.exit(2);
