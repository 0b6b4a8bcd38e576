// What a page missed while its socket was not open (before it first opened, or during a drop):
// messages sent from other tabs or processes, replies that started or ended meanwhile, and the
// requests for decisions those messages closed. The channel layer only carries news; the database
// is the record, so the page asks the server for the conversation from the last message it shows.

// The last message shown may have left the conversation's history meanwhile (another version of
// its turn was chosen): the page then asks from the one before it, a few at most.
const MAX_ANCHORS = 3;

/**
 * The function to call whenever the socket opens (the first time, after every reconnect and on
 * `resync`): it resumes the replies shown running, then fetches the messages from the last one
 * shown on (messagesUrl(messageId), the address `version.chosen` uses) and puts in place what differs.
 */
export function catchUpOnOpen({ thread, messagesUrl }) {
  let latest = 0;
  return async () => {
    thread.resumeStreaming();
    const asked = ++latest;
    const shownIds = thread.shownIds();
    for (const id of [...shownIds].reverse().slice(0, MAX_ANCHORS)) {
      const url = messagesUrl(id);
      if (!url) return;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (response.status === 404) continue;
        if (!response.ok) return;
        const answer = await response.json();
        const shown = thread.element(id);
        // A later open asks again; a message shown no more was replaced by a frame meanwhile.
        if (asked === latest && shown) thread.catchUp(shown, answer, new Set(shownIds));
      } catch {
        // The page catches up at the next open, or shows everything at a reload.
      }
      return;
    }
  };
}
