import { createApp } from "./app";

export { RoomObject } from "../durable-objects/room/room";
export { SigningKeyObject } from "../durable-objects/signing-key";
export { TurnFleetObject } from "../durable-objects/turn-fleet";
export { SfuPoolObject } from "../durable-objects/sfu-pool";
export { AttemptLimiterObject } from "../durable-objects/attempt-limiter";

export default createApp();
