/**
 * The smallest STUN exchange (RFC 5389): a Binding request and the check that an answer is its success response.
 * Used to probe TURN nodes over TCP.
 */
const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
export const STUN_HEADER_BYTES = 20;

export function bindingRequest(transactionId: Uint8Array = crypto.getRandomValues(new Uint8Array(12))): Uint8Array {
  if (transactionId.byteLength !== 12) throw new Error("STUN transaction ids have 12 bytes");
  const message = new Uint8Array(STUN_HEADER_BYTES);
  const view = new DataView(message.buffer);
  view.setUint16(0, BINDING_REQUEST);
  view.setUint16(2, 0); // no attributes
  view.setUint32(4, MAGIC_COOKIE);
  message.set(transactionId, 8);
  return message;
}

/** Whether `response` starts with a Binding success response to `request`. */
export function isBindingSuccess(request: Uint8Array, response: Uint8Array): boolean {
  if (response.byteLength < STUN_HEADER_BYTES) return false;
  const view = new DataView(response.buffer, response.byteOffset, response.byteLength);
  if (view.getUint16(0) !== BINDING_SUCCESS || view.getUint32(4) !== MAGIC_COOKIE) return false;
  return request.subarray(8, 20).every((byte, i) => response[8 + i] === byte);
}
