// The HTTP status of a failed Kubernetes API call, as @kubernetes/client-node reports it.
export const apiStatus = (error: unknown): number | undefined => (error as { code?: number }).code;

export const isNotFound = (error: unknown): boolean => apiStatus(error) === 404;
