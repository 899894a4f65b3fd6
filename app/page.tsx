export default function Home() {
  return (
    <main>
      <h1>Realtime voice</h1>
      <p>
        The browser voice app fetches an ephemeral key with <code>POST /api/realtime/token</code>.
      </p>
    </main>
  );
}
