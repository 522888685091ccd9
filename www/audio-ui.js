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
 * Drives `meter` (a <meter> with min 0, max 1) with the peak level of `stream`'s first audio
 * track, about 20 times a second; `container` (default: the meter) is hidden when there is
 * none. Returns a function that stops it.
 */
export function micMeter(stream, meter, container = meter) {
  const track = stream?.getAudioTracks()[0];
  container.hidden = !track;
  if (!track) return () => {};
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const s of samples) peak = Math.max(peak, Math.abs(s));
    meter.value = peak;
  }, 50);
  return () => {
    clearInterval(timer);
    context.close();
    container.hidden = true;
  };
}
