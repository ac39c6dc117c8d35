/** Device posture lives in core (`@verity/core` device-posture.ts), shared with PEPs deciding locally. */
export { deviceIssues, deviceSignalOf, isDeviceId, parseDevicePosture, patchAgesOutAtMs, patchTimeOf, type DeviceIssue, type DevicePosture } from '@verity/core';
