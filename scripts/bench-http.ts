import { Agent, request } from "node:http";

/**
 * Kept-alive `node:http` connections for the benches' REST calls. Node's fetch costs the client process about a
 * millisecond of CPU per request; on cores shared with the server that would be billed to the server's figures.
 */
const agent = new Agent({ keepAlive: true });

export function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method: options.method ?? "GET", agent, headers: options.headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}
