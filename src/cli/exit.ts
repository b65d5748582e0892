// The CLI's one error type: a message for stderr and the exit code.
/** Exit codes: 0 ok, 1 policy denial / violations, 2 unusable input or usage error. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
