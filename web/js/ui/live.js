// Whether anyone sees my camera and hears my microphone, in words. The top bar says it in a
// few words and is the page's one announcement of it; my own tile and the stage preview say
// it in a whole sentence, silently.
//
// The facts come from their two owners: LocalMedia (is the camera on, is the microphone
// muted) and MediaSession.reach (does anything leave the page, and does the server say that
// anyone receives it).

/**
 * {state, short, text}. `state`: "live" (someone sees or hears me), "sending" (sent, but the
 * server has not said whether anyone receives it), "private" (nothing of mine reaches
 * anyone) or "off" (camera off and microphone muted). `short` fits the top bar; `text` is
 * the whole sentence.
 */
export function liveStatus(local, media) {
  const camOn = local.state === "on" && local.hasVideo;
  const micOn = local.state === "on" && Boolean(local.audioTrack) && !local.micMuted;
  const video = camOn && media ? media.reach("video") : "nobody";
  const audio = micOn && media ? media.reach("audio") : "nobody";
  const seen = video === "others";
  const heard = audio === "others";

  if (seen && heard) {
    return { state: "live", short: "Live: seen and heard", text: "You are live: others see and hear you." };
  }
  if (seen) {
    return micOn
      ? { state: "live", short: "Live: seen, not heard", text: "You are live: others see you but do not hear you." }
      : { state: "live", short: "Live: seen, muted", text: "You are live: others see you; your microphone is muted." };
  }
  if (heard) {
    return camOn
      ? { state: "live", short: "Live: heard, not seen", text: "You are live: others hear you; only you see your camera." }
      : { state: "live", short: "Live: heard", text: "You are live: others hear you; your camera is off." };
  }
  const sentVideo = video === "unknown";
  const sentAudio = audio === "unknown";
  if (sentVideo || sentAudio) {
    if (sentVideo && sentAudio) {
      return { state: "sending", short: "Sending camera and mic", text: "Your camera and microphone are being sent." };
    }
    return sentVideo
      ? { state: "sending", short: "Sending camera", text: "Your camera is being sent." }
      : { state: "sending", short: "Sending mic", text: "Your microphone is being sent." };
  }
  if (camOn) {
    const text = micOn ? "Only you see your camera; nobody hears you." : "Only you see your camera.";
    return { state: "private", short: "Not live", text };
  }
  if (micOn) return { state: "private", short: "Not live", text: "Nobody hears you; your camera is off." };
  const text = local.audioTrack
    ? "Your camera is off and your microphone is muted."
    : "Your camera and microphone are off.";
  return { state: "off", short: "Not live", text };
}
