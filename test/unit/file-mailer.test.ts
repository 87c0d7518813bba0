import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createFileMailer, mailFileName } from "../../src/platform/mailer/file-mailer.js";

describe("file mailer", () => {
  it("writes one .eml per message id, replacing it when the same message is sent again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kaira-mail-"));
    const mailer = createFileMailer({ dir, from: "Kaira <no-reply@example.com>" });
    const message = {
      to: "ann@example.com",
      subject: "Grüße",
      text: "line 1\nline 2",
      messageId: "<welcome-1-2@kaira>",
    };
    await mailer.send(message);
    await mailer.send(message);
    expect(readdirSync(dir)).toEqual([mailFileName(message.messageId)]);
    const eml = readFileSync(join(dir, mailFileName(message.messageId)), "utf8");
    expect(eml).toContain("To: ann@example.com\r\n");
    expect(eml).toContain(`Subject: =?UTF-8?B?${Buffer.from("Grüße").toString("base64")}?=`);
    expect(eml).toContain("\r\n\r\nline 1\r\nline 2");
  });

  it("refuses header injection and keeps file names inside its directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kaira-mail-"));
    const mailer = createFileMailer({ dir, from: "Kaira <no-reply@example.com>" });
    await expect(
      mailer.send({
        to: "ann@example.com\r\nBcc: all@example.com",
        subject: "x",
        text: "",
        messageId: "<a@b>",
      }),
    ).rejects.toThrow("line breaks");
    expect(mailFileName("<../../etc/passwd@kaira>")).toBe("etcpasswd@kaira.eml");
    expect(mailFileName("<../../etc/passwd@kaira>")).not.toContain("/");
  });
});
