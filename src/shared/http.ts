import { type ErrorCode, httpStatusOf } from "../protocol";

/** The contract's REST error body with the status that fits its code. */
export function errorResponse(code: ErrorCode, message: string, headers?: HeadersInit): Response {
  return Response.json({ error: { code, message } }, { status: httpStatusOf[code], headers });
}
