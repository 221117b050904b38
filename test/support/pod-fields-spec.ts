// A ModelDeployment spec that uses every field of spec.pod (and CPU/memory on a GPU pod), as a platform
// team would write it: shared by the rendering's unit tests and the real API server's checks.
export const EVERY_POD_FIELD = {
  gpu: { mode: 'full', count: 1 },
  resources: { requests: { cpu: '2', memory: '8Gi' }, limits: { cpu: '4', memory: '8Gi' } },
  pod: {
    serviceAccountName: 'ranker-reader',
    imagePullSecrets: [{ name: 'registry-creds' }],
    labels: { team: 'search', 'example.com/cost-center': 'ml-42' },
    annotations: { 'example.com/owner': 'search-team@example.com' },
    priorityClassName: 'model-serving',
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'example.com/pool', operator: 'In', values: ['gpu-a', 'gpu-b'] }] }] },
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, preference: { matchExpressions: [{ key: 'example.com/spot', operator: 'DoesNotExist' }] } }],
      },
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'ranker' } } } }],
      },
    },
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
      { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', minDomains: 2, matchLabelKeys: ['pod-template-hash'],
        labelSelector: { matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: ['modelship-server'] }] } },
    ],
    volumes: [
      { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
      { name: 'vocab', configMap: { name: 'ranker-vocab', items: [{ key: 'vocab.txt', path: 'vocab.txt' }], defaultMode: 292 } },
      { name: 'tls', secret: { secretName: 'ranker-tls', optional: true } },
      { name: 'models', persistentVolumeClaim: { claimName: 'model-store', readOnly: true } },
      { name: 'identity', projected: { sources: [{ serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 3600, path: 'token' } }, { configMap: { name: 'aws-config' } }] } },
      { name: 'podinfo', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'mem', resourceFieldRef: { containerName: 'server', resource: 'limits.memory', divisor: '1Mi' } }] } },
      { name: 'vault', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: 'ranker' } } },
      { name: 'scratch', ephemeral: { volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } } } } },
    ],
    volumeMounts: [
      { name: 'shm', mountPath: '/dev/shm' },
      { name: 'vocab', mountPath: '/etc/ranker', readOnly: true },
      { name: 'tls', mountPath: '/etc/tls', readOnly: true },
      { name: 'models', mountPath: '/models', readOnly: true, subPath: 'ranker' },
      { name: 'identity', mountPath: '/var/run/secrets/aws', readOnly: true },
      { name: 'podinfo', mountPath: '/etc/podinfo', readOnly: true },
      { name: 'vault', mountPath: '/mnt/secrets', readOnly: true },
      { name: 'scratch', mountPath: '/scratch' },
    ],
  },
};
