import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  to: string[];
  body: string;
}

export interface TestSmtpServer {
  received: ReceivedMail[];
  /** While true, messages are read but never answered: the sender hangs mid-delivery. */
  hold: boolean;
  /** Messages read while holding (never delivered). */
  held: number;
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1:`port` that records what it receives. */
export async function startSmtpServer(port: number): Promise<TestSmtpServer> {
  const state: TestSmtpServer = {
    received: [],
    hold: false,
    held: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, session, callback) {
      let body = "";
      stream.on("data", (chunk) => {
        body += chunk;
      });
      stream.on("end", () => {
        if (state.hold) {
          state.held += 1;
          return;
        }
        state.received.push({ to: session.envelope.rcptTo.map((r) => r.address), body });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return state;
}
