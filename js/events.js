// Event helpers shared by the package's classes (imported by the wasm module).

/** Adds a listener that receives `event.detail`; returns a function that removes it. */
export function onDetail(target, type, callback) {
  const listener = (event) => callback(event.detail);
  target.addEventListener(type, listener);
  return () => target.removeEventListener(type, listener);
}
