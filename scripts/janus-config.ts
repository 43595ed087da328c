import { randomBytes } from "node:crypto";

/**
 * Janus configuration for a Plenum SFU node: only the VideoRoom plugin and the HTTP transport (plugins and
 * transports that need services we do not run are disabled), the REST API and the admin API bound to one address,
 * and both behind a secret: the API's `api_secret` and the admin API's `admin_secret`.
 */
export interface JanusConfigOptions {
  /** Where these files are written (Janus reads its plugins' configs from there). */
  configDir: string;
  apiIp: string;
  apiPort: number;
  adminPort: number;
  adminSecret: string;
  /** Required with every REST API request (Plenum sends it); without it anyone reaching the API could use it. */
  apiSecret: string;
  /** Interfaces ICE may use (Janus cannot do ICE on loopback). */
  iceInterface?: string;
  rtpPorts?: [number, number];
  sessionTimeoutSeconds?: number;
  debugLevel?: number;
}

const DISABLED_PLUGINS = [
  "audiobridge",
  "duktape",
  "echotest",
  "lua",
  "nosip",
  "recordplay",
  "sip",
  "streaming",
  "textroom",
  "videocall",
  "voicemail",
].map((p) => `libjanus_${p}.so`);
const DISABLED_TRANSPORTS = ["mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets"].map((t) => `libjanus_${t}.so`);

/** Fresh secrets for a node: each is given to Plenum once (`plenum sfu add`) and lives in the node's config. */
export function janusSecrets(): { apiSecret: string; adminSecret: string } {
  return { apiSecret: randomBytes(24).toString("base64url"), adminSecret: randomBytes(24).toString("base64url") };
}

export function janusConfigFiles(
  o: JanusConfigOptions,
  folders = "/usr/lib/x86_64-linux-gnu/janus",
): Record<string, string> {
  const q = JSON.stringify;
  return {
    "janus.jcfg": `general: {
  configs_folder = ${q(o.configDir)}
  plugins_folder = ${q(`${folders}/plugins`)}
  transports_folder = ${q(`${folders}/transports`)}
  events_folder = ${q(`${folders}/events`)}
  loggers_folder = ${q(`${folders}/loggers`)}
  debug_level = ${o.debugLevel ?? 3}
  admin_secret = ${q(o.adminSecret)}
  api_secret = ${q(o.apiSecret)}
  session_timeout = ${o.sessionTimeoutSeconds ?? 60}
  protected_folders = ["/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var"]
}
media: {
  rtp_port_range = ${q(`${o.rtpPorts?.[0] ?? 20000}-${o.rtpPorts?.[1] ?? 40000}`)}
}
nat: {
  nice_debug = false
  full_trickle = true
${o.iceInterface ? `  ice_enforce_list = ${q(o.iceInterface)}\n` : ""}}
plugins: {
  disable = ${q(DISABLED_PLUGINS.join(","))}
}
transports: {
  disable = ${q(DISABLED_TRANSPORTS.join(","))}
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
events: {
  broadcast = false
}
`,
    "janus.transport.http.jcfg": `general: {
  json = "plain"
  base_path = "/janus"
  http = true
  port = ${o.apiPort}
  ip = ${q(o.apiIp)}
  https = false
}
admin: {
  admin_base_path = "/admin"
  admin_http = true
  admin_port = ${o.adminPort}
  admin_ip = ${q(o.apiIp)}
  admin_https = false
}
`,
    "janus.plugin.videoroom.jcfg": `general: {
}
`,
  };
}
