import { createApp } from "./app";

export { RoomObject } from "../durable-objects/room/room";
export { DevIssuerObject } from "../durable-objects/dev-issuer";
export { AttemptLimiterObject } from "../durable-objects/attempt-limiter";

export default createApp();
