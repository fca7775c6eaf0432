import { ApiClient, ApiRequestError } from './api.ts';
import { ChatView } from './chat-view.ts';
import { ConversationList } from './conversation-list.ts';
import { byId } from './dom.ts';
import { EventLog } from './event-log.ts';
import type { StreamState } from './event-stream.ts';
import { OpenConversation } from './open-conversation.ts';
import { SessionView } from './session-view.ts';
import type { ConversationJson, TurnMode } from './types.ts';

const signIn = byId('sign-in');
const signInForm = byId<HTMLFormElement>('sign-in-form');
const keyInput = byId<HTMLInputElement>('api-key');
const signInError = byId('sign-in-error');
const devKeyHint = byId('dev-key-hint');
const signOut = byId<HTMLButtonElement>('sign-out');
const workspace = byId('workspace');
const statusLine = byId('status');
const newConversation = byId<HTMLFormElement>('new-conversation');
const moreConversations = byId<HTMLButtonElement>('more-conversations');
const chatTitle = byId('chat-title');
const streamPill = byId('stream-state');
const composer = byId<HTMLFormElement>('composer');
const messageInput = byId<HTMLTextAreaElement>('message');
const sendButton = byId<HTMLButtonElement>('send');
const resetButton = byId<HTMLButtonElement>('reset-session');

const chat = new ChatView(byId<HTMLOListElement>('turns'), (messageId) => void cancelTurn(messageId));
const sessionView = new SessionView();
const eventLog = new EventLog();
const conversationList = new ConversationList(
  byId<HTMLUListElement>('conversation-list'),
  (c) => void selectConversation(c),
);

let api: ApiClient | null = null;
let current: OpenConversation | null = null;
let nextCursor: string | null = null;

function showStatus(text: string, kind: 'info' | 'error' = 'info'): void {
  statusLine.textContent = text;
  statusLine.dataset.kind = kind;
}

function describe(err: unknown): string {
  if (err instanceof ApiRequestError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Run a user action; its failure is shown in the status line. */
async function attempt(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    showStatus(describe(err), 'error');
  }
}

const STREAM_LABELS: Record<StreamState, string> = {
  connecting: 'connecting',
  live: 'live',
  reconnecting: 'reconnecting',
  closed: 'not following',
};

function setStreamState(state: StreamState): void {
  streamPill.dataset.state = state;
  streamPill.textContent = STREAM_LABELS[state];
}

/** The development key of `npm start`, offered to loopback clients only; nothing otherwise. */
async function prefillDevKey(): Promise<void> {
  try {
    const res = await fetch('/playground/config', { cache: 'no-store' });
    const config = res.ok ? ((await res.json()) as { devKey: string | null }) : null;
    if (config?.devKey) {
      keyInput.value = config.devKey;
      devKeyHint.hidden = false;
    }
  } catch {
    // no prefill
  }
}

signInForm.addEventListener('submit', (e) => {
  e.preventDefault();
  void attempt(async () => {
    const candidate = new ApiClient(keyInput.value.trim());
    signInError.textContent = '';
    let page: Awaited<ReturnType<ApiClient['listConversations']>>;
    try {
      page = await candidate.listConversations(null);
    } catch (err) {
      signInError.textContent =
        err instanceof ApiRequestError && err.status === 401
          ? 'That key is unknown or revoked.'
          : describe(err);
      return;
    }
    api = candidate;
    keyInput.value = '';
    devKeyHint.hidden = true;
    signIn.hidden = true;
    workspace.hidden = false;
    signOut.hidden = false;
    showStatus('Signed in.');
    showConversations(page.conversations, page.nextCursor);
    if (page.conversations[0]) await selectConversation(page.conversations[0]);
  });
});

signOut.addEventListener('click', () => {
  current?.close();
  current = null;
  api = null;
  conversationList.set([]);
  workspace.hidden = true;
  signOut.hidden = true;
  signIn.hidden = false;
  showStatus('Signed out.');
  void prefillDevKey();
});

function showConversations(items: ConversationJson[], cursor: string | null): void {
  conversationList.set(items);
  nextCursor = cursor;
  moreConversations.hidden = cursor === null;
}

moreConversations.addEventListener('click', () =>
  attempt(async () => {
    if (!api || !nextCursor) return;
    const page = await api.listConversations(nextCursor);
    conversationList.append(page.conversations);
    nextCursor = page.nextCursor;
    moreConversations.hidden = nextCursor === null;
  }),
);

newConversation.addEventListener('submit', (e) => {
  e.preventDefault();
  void attempt(async () => {
    if (!api) return;
    const data = new FormData(newConversation);
    const title = String(data.get('title') ?? '').trim();
    const mode = data.get('mode') === 'batch' ? 'batch' : 'stream';
    const created = await api.createConversation({ ...(title ? { title } : {}), mode });
    newConversation.reset();
    conversationList.prepend(created);
    await selectConversation(created);
  });
});

async function selectConversation(conversation: ConversationJson): Promise<void> {
  if (!api || current?.id === conversation.id) return;
  current?.close();
  conversationList.select(conversation.id);
  chatTitle.textContent = conversation.title ?? '(untitled)';
  chatTitle.title = conversation.id;
  composer.hidden = false;
  resetButton.disabled = false;
  const modeInput = composer.querySelector<HTMLInputElement>(
    `input[name="mode"][value="${conversation.mode}"]`,
  );
  if (modeInput) modeInput.checked = true;
  const open = new OpenConversation(api, conversation, {
    chat,
    session: sessionView,
    log: eventLog,
    streamState: setStreamState,
  });
  current = open;
  await attempt(() => open.open());
  messageInput.focus();
}

composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const content = messageInput.value;
  const open = current;
  if (!open || content.trim() === '') return;
  const mode: TurnMode = new FormData(composer).get('mode') === 'batch' ? 'batch' : 'stream';
  sendButton.disabled = true;
  void attempt(async () => {
    await open.send(content, mode);
    messageInput.value = '';
  }).finally(() => {
    sendButton.disabled = false;
  });
});

messageInput.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    composer.requestSubmit();
  }
});

async function cancelTurn(messageId: string): Promise<void> {
  const open = current;
  if (!open) return;
  await attempt(async () => {
    const status = await open.cancel(messageId);
    showStatus(status === 'cancelled' ? 'Cancelled before it started.' : 'Cancelling…');
  });
}

resetButton.addEventListener('click', () =>
  attempt(async () => {
    if (!current) return;
    resetButton.disabled = true;
    try {
      await current.reset();
      showStatus('Session reset: the next message starts a new assistant session.');
    } finally {
      resetButton.disabled = false;
    }
  }),
);

void prefillDevKey().then(() => keyInput.focus());
