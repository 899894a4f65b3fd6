import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { REALTIME_CALLS_URL } from '../../app/voice/webrtc';
import { startApp, type AppServer } from '../support/app-server';
import { freePort, launchChromium, screenshot, textOf, waitForText } from '../support/browser';
import { signJwt, TEST_JWT_SECRET } from '../support/tokens';

/**
 * The WebRTC half of Start, in real Chromium, with the real OpenAI API as the
 * configured upstream (so the page is not in demo mode). OpenAI cannot run
 * here, so two things are stood in by the test, in the browser: the token
 * answer (the server cannot reach api.openai.com; the endpoint itself is
 * covered by voice-page.test.ts and the e2e suites) and OpenAI's side of the
 * call, played by a second RTCPeerConnection in another tab that answers the
 * SDP offer the page POSTs to https://api.openai.com/v1/realtime/calls.
 */

const EPHEMERAL_KEY = 'ek_browser_webrtc_0123456789abcdef';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';

let app: AppServer;
let appOrigin: string;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const port = await freePort();
  appOrigin = `http://127.0.0.1:${port}`;
  [app, browser] = await Promise.all([
    startApp({ PORT: String(port), OPENAI_API_KEY: 'sk-test-never-used-123456', JWT_SECRET: TEST_JWT_SECRET, ALLOWED_ORIGINS: appOrigin }),
    // A fake microphone; raw host candidates, loopback included, so the two tabs connect on any machine.
    launchChromium(['--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns']),
  ]);
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

interface Probe {
  mics: MediaStreamTrack[];
  peers: RTCPeerConnection[];
  channels: string[];
}

/** Records the microphone tracks, peer connections and data channels the page opens. */
function installProbe() {
  const w = window as unknown as { __probe: Probe };
  w.__probe = { mics: [], peers: [], channels: [] };
  const devices = navigator.mediaDevices;
  if (devices) {
    const getUserMedia = devices.getUserMedia.bind(devices);
    devices.getUserMedia = async (constraints) => {
      const stream = await getUserMedia(constraints);
      w.__probe.mics.push(...stream.getTracks());
      return stream;
    };
  }
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config?: RTCConfiguration) {
      super(config);
      w.__probe.peers.push(this);
    }
    override createDataChannel(label: string, init?: RTCDataChannelInit) {
      w.__probe.channels.push(label);
      return super.createDataChannel(label, init);
    }
  };
}

/** OpenAI's side: answers the offer with an audio track (a tone) and greets on the data channel. */
async function answerOffer(offer: string): Promise<string> {
  const pc = new RTCPeerConnection();
  (window as unknown as { __answerer: RTCPeerConnection }).__answerer = pc;
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const out = audio.createMediaStreamDestination();
  tone.connect(out);
  tone.start();
  pc.ondatachannel = ({ channel }) => {
    channel.onopen = () => channel.send(JSON.stringify({ type: 'session.created', event_id: 'event_1' }));
  };
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  const [transceiver] = pc.getTransceivers();
  await transceiver.sender.replaceTrack(out.stream.getAudioTracks()[0]);
  transceiver.direction = 'sendrecv';
  await pc.setLocalDescription(await pc.createAnswer());
  // No trickle ICE over a single POST: answer once candidates are gathered (as OpenAI's answer carries them).
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 3000);
  });
  return pc.localDescription!.sdp;
}

interface CallSetup {
  page: Page;
  calls: Request[];
}

async function openVoicePage(options: { microphone: boolean; sdpStatus?: number }): Promise<CallSetup> {
  const context = await browser.newContext({ viewport: { width: 960, height: 900 } });
  contexts.push(context);
  if (options.microphone) await context.grantPermissions(['microphone'], { origin: appOrigin });
  const page = await context.newPage();
  await page.addInitScript(installProbe);
  const openai = await context.newPage();

  await page.route(`${appOrigin}/api/realtime/token`, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      headers: { 'X-Trace-Id': TRACE_ID, 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '9' },
      body: JSON.stringify({
        value: EPHEMERAL_KEY,
        expires_at: Math.floor(Date.now() / 1000) + 60,
        session: { id: 'sess_webrtc_test', model: 'gpt-realtime', voice: 'alloy' },
        traceId: TRACE_ID,
      }),
    }),
  );
  const calls: Request[] = [];
  await page.route(REALTIME_CALLS_URL, async (route) => {
    const request = route.request();
    calls.push(request);
    const cors = { 'Access-Control-Allow-Origin': appOrigin };
    if (options.sdpStatus) {
      await route.fulfill({ status: options.sdpStatus, headers: cors, contentType: 'application/json', body: '{"error":{}}' });
      return;
    }
    const answer = await openai.evaluate(answerOffer, request.postData() ?? '');
    await route.fulfill({ status: 201, headers: { ...cors, Location: '/v1/realtime/calls/rtc_test' }, contentType: 'application/sdp', body: answer });
  });

  await page.goto(`${appOrigin}/#token=${await signJwt({}, { subject: 'browser-webrtc' })}`);
  await page.getByTestId('signed-in').waitFor();
  expect(await page.getByTestId('demo-badge').count()).toBe(0);
  return { page, calls };
}

const probe = (page: Page) =>
  page.evaluate(() => {
    const { mics, peers, channels } = (window as unknown as { __probe: Probe }).__probe;
    const audio = document.querySelector('audio')!;
    return {
      mics: mics.map((t) => ({ kind: t.kind, state: t.readyState })),
      peers: peers.map((p) => ({ signaling: p.signalingState, remote: p.remoteDescription?.type ?? null })),
      channels,
      remoteAudioTracks: audio.srcObject instanceof MediaStream ? audio.srcObject.getAudioTracks().length : 0,
    };
  });

describe('Start with the real OpenAI API configured', () => {
  it('opens the mic, POSTs the SDP offer with the ephemeral key, sets the answer and plays remote audio; Stop releases it all', async () => {
    const { page, calls } = await openVoicePage({ microphone: true });
    await page.getByRole('button', { name: 'Start', exact: true }).click();

    await waitForText(page.getByRole('status'), /^Live\./, 15_000);
    // "Live." shows once the answer is set; the data channel's first message then needs ICE
    // checks, DTLS and SCTP between two Chromium peers, which took over 10 s once on a
    // loaded two-core machine (a fresh-clone CI run).
    await waitForText(page.locator('dd', { hasText: 'session.created' }), /session\.created/, 30_000);
    expect(calls).toHaveLength(1);
    const headers = await calls[0].allHeaders();
    expect(calls[0].method()).toBe('POST');
    expect(headers.authorization).toBe(`Bearer ${EPHEMERAL_KEY}`);
    expect(headers['content-type']).toBe('application/sdp');
    const offer = calls[0].postData() ?? '';
    expect(offer).toMatch(/^v=0\r\n/);
    expect(offer).toMatch(/^m=audio .*$/m);
    expect(offer).toMatch(/^a=sendrecv$/m);
    expect(offer).toMatch(/^m=application .* webrtc-datachannel$/m);
    expect(await probe(page)).toEqual({
      mics: [{ kind: 'audio', state: 'live' }],
      peers: [{ signaling: 'stable', remote: 'answer' }],
      channels: ['oai-events'],
      remoteAudioTracks: 1,
    });
    expect(await page.content()).not.toContain(EPHEMERAL_KEY);
    expect(await textOf(page.getByTestId('key-expiry'))).toMatch(/^in \d+ s$/);
    await screenshot(page, '5-live-call');

    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await waitForText(page.getByRole('status'), /^Ready\./);
    expect(await probe(page)).toEqual({
      mics: [{ kind: 'audio', state: 'ended' }],
      peers: [{ signaling: 'closed', remote: 'answer' }],
      channels: ['oai-events'],
      remoteAudioTracks: 0,
    });
  }, 60_000);

  it('says so in plain words when the microphone is blocked, and never calls OpenAI', async () => {
    const { page, calls } = await openVoicePage({ microphone: false });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForText(page.getByRole('alert'), /Microphone access was blocked/);
    expect(await textOf(page.getByTestId('trace-id'))).toBe(TRACE_ID);
    expect(calls).toHaveLength(0);
    expect((await probe(page)).peers).toEqual([]);
  });

  it('reports a refused call setup and releases the microphone', async () => {
    const { page, calls } = await openVoicePage({ microphone: true, sdpStatus: 401 });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForText(page.getByRole('alert'), /OpenAI refused the call \(HTTP 401\)/);
    expect(calls).toHaveLength(1);
    expect(await probe(page)).toMatchObject({ mics: [{ state: 'ended' }], peers: [{ signaling: 'closed' }] });
  });
});
