// AdmissionReview (admission.k8s.io/v1) on the wire: parsing with specific errors, and
// serialising the answer. Kept free of HTTP so the CLI and tests use the same code.

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  namespace?: string;
  name?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo?: UserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; message: string; reason?: string };
  /** Base64 (RFC 4648) of the JSON Patch, as made by the handler: serialised without escaping. */
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/** A request podhooks cannot answer with an AdmissionReview; becomes an HTTP 4xx. */
export class BadReviewError extends Error {
  constructor(
    message: string,
    readonly httpStatus = 400,
    readonly uid?: string,
  ) {
    super(message);
  }
}

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

export function parseReview(body: string): AdmissionRequest {
  let review: unknown;
  try {
    review = JSON.parse(body);
  } catch (err) {
    throw new BadReviewError(`body is not valid JSON: ${(err as Error).message}`);
  }
  if (!review || typeof review !== 'object' || Array.isArray(review)) {
    throw new BadReviewError('body must be a JSON object of kind AdmissionReview');
  }
  const { apiVersion, kind, request } = review as Record<string, unknown>;
  if (kind !== 'AdmissionReview') {
    throw new BadReviewError(`kind is ${JSON.stringify(kind)}; expected "AdmissionReview"`);
  }
  if (apiVersion !== ADMISSION_API_VERSION) {
    throw new BadReviewError(
      `apiVersion ${JSON.stringify(apiVersion)} is not supported; podhooks speaks ${ADMISSION_API_VERSION} (set admissionReviewVersions: ["v1"] in the webhook configuration)`,
    );
  }
  if (!request || typeof request !== 'object') {
    throw new BadReviewError('request is missing: an AdmissionReview sent to a webhook carries request');
  }
  const req = request as Record<string, unknown>;
  if (typeof req.uid !== 'string' || req.uid === '') {
    throw new BadReviewError('request.uid is missing or not a string');
  }
  const uid = req.uid;
  const gvk = req.kind as GroupVersionKind | undefined;
  if (!gvk || typeof gvk !== 'object' || typeof gvk.kind !== 'string') {
    throw new BadReviewError('request.kind is missing (expected {group, version, kind})', 400, uid);
  }
  if (typeof req.operation !== 'string' || !OPERATIONS.has(req.operation)) {
    throw new BadReviewError(
      `request.operation is ${JSON.stringify(req.operation)}; expected one of CREATE, UPDATE, DELETE, CONNECT`,
      400,
      uid,
    );
  }
  if ((req.operation === 'CREATE' || req.operation === 'UPDATE') && (!req.object || typeof req.object !== 'object')) {
    throw new BadReviewError(`request.object is missing; a ${req.operation} request carries the object`, 400, uid);
  }
  return req as unknown as AdmissionRequest;
}

export function serialiseReview(response: AdmissionResponse): string {
  if (response.patch === undefined) return JSON.stringify({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response });
  // The patch is base64, which JSON never escapes: spliced in, not scanned again (it is most
  // of the answer, and JSON.stringify costs as much for it as for the whole pod).
  const { patch, ...rest } = response;
  const json = JSON.stringify({ apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response: rest });
  return `${json.slice(0, -2)},"patch":"${patch}"}}`;
}

const STATUS_REASONS: Record<number, string> = { 404: 'NotFound', 405: 'MethodNotAllowed', 413: 'RequestEntityTooLarge', 415: 'UnsupportedMediaType' };

/** A Kubernetes Status body for HTTP errors, so kubectl-minded readers see a familiar shape. */
export function serialiseStatus(code: number, message: string): string {
  const reason = STATUS_REASONS[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest');
  return JSON.stringify({ apiVersion: 'v1', kind: 'Status', status: 'Failure', message, reason, code });
}
