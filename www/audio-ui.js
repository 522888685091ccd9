// Sound on the demo pages: an unmute button for the watch page (browsers only autoplay
// muted video) and a microphone level meter for the broadcast page.

/** Shows `button` while `video` plays muted; a click turns the sound on. */
export function unmuteButton(video, button) {
  const update = () => { button.hidden = !video.muted || video.paused; };
  button.addEventListener('click', () => {
    video.muted = false;
    update();
  });
  video.addEventListener('playing', update);
  video.addEventListener('volumechange', update);
  update();
}

/**
 * Shows `stats.audioLevel` (the Broadcaster's peak microphone level over each stats window,
 * measured in its encode worker) on `meter` (a <meter> with min 0, max 1); `container` is
 * shown only while there is sound. No audio processing on the page's thread.
 */
export function showMicLevel(stats, meter, container = meter) {
  container.hidden = stats.audioEncoder == null;
  meter.value = stats.audioLevel ?? 0;
}
