import { RTCPeerConnection, type RTCDataChannel } from 'werift';

/**
 * A real WebRTC offerer in Node (werift), playing the browser for route
 * tests: an audio transceiver and the `oai-events` data channel, like the
 * voice page. Its offer carries loopback candidates only, so a test that
 * completes the call sends nothing beyond 127.0.0.1.
 */
export interface NodePeer {
  /** The gathered offer, CRLF lines. */
  readonly offer: string;
  readonly pc: RTCPeerConnection;
  readonly channel: RTCDataChannel;
  /** Applies the answer and resolves when the data channel is open. */
  connect(answer: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const LOOPBACK = /^a=candidate:\S+ \d+ udp \d+ 127\./i;

export async function nodePeer(): Promise<NodePeer> {
  const pc = new RTCPeerConnection({ iceUseIpv6: false, iceUseTcp: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceInterfaceAddresses: { udp4: '127.0.0.1' } });
  pc.addTransceiver('audio', { direction: 'sendrecv' });
  const channel = pc.createDataChannel('oai-events');
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 3000);
      pc.iceGatheringStateChange.subscribe((state) => {
        if (state === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }
  const offer = pc.localDescription!.sdp
    .split(/\r?\n/)
    .filter((line) => !line.startsWith('a=candidate:') || LOOPBACK.test(line))
    .join('\r\n');
  return {
    offer,
    pc,
    channel,
    async connect(answer, timeoutMs = 10_000) {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      if (channel.readyState === 'open') return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('data channel did not open')), timeoutMs);
        channel.stateChanged.subscribe((state) => {
          if (state === 'open') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    },
    close: () => pc.close(),
  };
}
