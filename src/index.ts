import { createApp } from "./app";

export { AttemptLimiterObject } from "../durable-objects/attempt-limiter";
export { RoomObject } from "../durable-objects/room/room";
export { RoomIndexObject } from "../durable-objects/room-index";
export { SfuPoolObject } from "../durable-objects/sfu-pool";
export { SigningKeyObject } from "../durable-objects/signing-key";
export { TurnFleetObject } from "../durable-objects/turn-fleet";

export default createApp();
