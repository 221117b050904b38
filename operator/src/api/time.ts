// Times as the Kubernetes API writes them in status (conditions, rollout windows): RFC 3339 to the second.
export const conditionTime = (at: Date | number = new Date()) => new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');
