/** Reads a server-sent event stream (fetch body) and resolves on the first event that matches. */
export async function openEventStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (!response.body) throw new Error(`no stream: ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  return {
    status: response.status,
    /** The next `data:` of an event named `event`, parsed, or a rejection after `timeoutMs`. */
    async next(event: string, timeoutMs = 1000): Promise<unknown> {
      const deadline = setTimeout(() => controller.abort(), timeoutMs);
      try {
        for (;;) {
          const boundary = buffer.indexOf('\n\n');
          if (boundary >= 0) {
            const block = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const lines = block.split('\n');
            const name = lines.find((l) => l.startsWith('event: '))?.slice(7);
            const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
            if (name === event && data !== undefined) return JSON.parse(data);
            continue;
          }
          const { value, done } = await reader.read();
          if (done) throw new Error('the stream ended');
          buffer += value;
        }
      } finally {
        clearTimeout(deadline);
      }
    },
    close: () => controller.abort(),
  };
}
