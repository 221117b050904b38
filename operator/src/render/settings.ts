// Cluster-wide choices of the platform team (Helm values), which the renderers take as plain data.
export interface OperatorSettings {
  serverImage: { cpu: string; cuda: string };
  /** How the NVIDIA device plugin exposes MIG: `mixed` (nvidia.com/mig-<profile>) or `single` (nvidia.com/gpu). */
  migStrategy: 'mixed' | 'single';
  /** Time-slicing with `renameByDefault` (nvidia.com/gpu.shared) or not (nvidia.com/gpu on -SHARED products). */
  timeSlicing: 'renamed' | 'unrenamed';
  /** Where KEDA's Prometheus trigger queries queue depth. */
  prometheusUrl: string;
  /**
   * GPU-mode pods keep their GPU requests and placement but run the CPU image on the CPU execution provider:
   * for clusters that advertise GPUs containers cannot use (the project's local cluster fakes them).
   */
  gpuPodsRunOnCpu: boolean;
}

export const DEFAULT_SETTINGS: OperatorSettings = {
  serverImage: { cpu: 'ghcr.io/modelship/modelship-server:0.1.0', cuda: 'ghcr.io/modelship/modelship-server:0.1.0-cuda' },
  migStrategy: 'mixed',
  timeSlicing: 'renamed',
  prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
  gpuPodsRunOnCpu: false,
};
