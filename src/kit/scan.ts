/// <reference lib="dom" />
import decodeQR from '@paulmillr/qr/decode.js';

/**
 * Reading a share's QR code with the camera, where the browser offers one:
 * the browser's own BarcodeDetector when it has it, else @paulmillr/qr on
 * video frames. Frames stay in this tab; nothing is recorded.
 */
interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
declare const BarcodeDetector: { new (o: { formats: string[] }): Detector } | undefined;

export const scannerAvailable = (): boolean => typeof navigator !== 'undefined' && Boolean(navigator.mediaDevices?.getUserMedia);

const isShare = (t: string | undefined): t is string => Boolean(t && /^VT1-/i.test(t.trim()));

/** Returns the first share text seen, or null once `stopped()` says so. */
export async function startScanner(video: HTMLVideoElement, stopped: () => boolean): Promise<string | null> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  try {
    video.srcObject = stream;
    await video.play();
    const detector = typeof BarcodeDetector === 'function' ? new BarcodeDetector({ formats: ['qr_code'] }) : null;
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    while (!stopped()) {
      await new Promise((r) => setTimeout(r, 200));
      const width = video.videoWidth;
      const height = video.videoHeight;
      if (!width || !height) continue;
      if (detector) {
        const text = (await detector.detect(video)).map((c) => c.rawValue).find(isShare);
        if (text) return text.trim();
        continue;
      }
      canvas.width = width;
      canvas.height = height;
      ctx.drawImage(video, 0, 0);
      try {
        const text = decodeQR({ width, height, data: ctx.getImageData(0, 0, width, height).data });
        if (isShare(text)) return text.trim();
      } catch {
        // no QR code in this frame
      }
    }
    return null;
  } finally {
    for (const t of stream.getTracks()) t.stop();
    video.srcObject = null;
  }
}
