/** The browser client's media and signalling modules (bundled for pages by esbuild). */
export { Signaling } from "./signaling";
export { MeshMedia } from "./mesh";
