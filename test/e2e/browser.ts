import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { build } from "esbuild";
import { type Browser, chromium } from "playwright-core";
import type * as client from "../../src/client/index";

/** The global `Plenum` of a blankPageServer page, for typing the code tests run there with page.evaluate. */
export type PlenumClient = typeof client;

/** Debian's Chromium with fake camera and microphone (never a downloaded browser). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
}

/**
 * A page on 127.0.0.1 (a secure context, so getUserMedia works) for tests that script WebRTC; it loads the browser
 * client modules (src/client) as the global `Plenum`.
 */
export async function blankPageServer(): Promise<{ url: string; origin: string; close(): void }> {
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, "..", "..", "src", "client", "index.ts")],
    bundle: true,
    format: "iife",
    globalName: "Plenum",
    platform: "browser",
    write: false,
  });
  const script = bundle.outputFiles[0]!.text;
  const server: Server = createServer((request, response) => {
    if (request.url === "/plenum-client.js") {
      response.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      return response.end(script);
    }
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end('<!doctype html><title>Plenum test</title><script src="/plenum-client.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/`, origin: `http://127.0.0.1:${port}`, close: () => server.close() };
}
