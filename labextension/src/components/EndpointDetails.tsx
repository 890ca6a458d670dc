import { Clipboard } from '@jupyterlab/apputils';
import { Button, copyIcon, HTMLSelect, runIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ILoggedRequest, IMerlinEvent, IMetricsPoint, IVersionEndpoint } from '../api';
import { ITryResult } from '../details';
import { describeError } from '../request';
import { bodyError, curlSnippet, pythonSnippet } from '../snippets';
import { MetricsCharts } from './MetricsChart';
import { StatusBadge } from './StatusBadge';

export interface IEndpointDetailsProps {
  title: string;
  endpoint: IVersionEndpoint | null;
  /** The endpoint through Jupyter's proxy, as an absolute URL. */
  proxyUrl: string | null;
  logs: string[];
  events: IMerlinEvent[];
  /** Logged requests, newest first (the endpoint's logger), and why they could not be read. */
  requests?: ILoggedRequest[];
  requestsError?: string | null;
  metrics?: IMetricsPoint[];
  error: string | null;
  example: string | null;
  tryIt: (body: string) => Promise<ITryResult>;
}

function CopyButton(props: { text: string; what: string }): JSX.Element {
  const [copied, setCopied] = React.useState(false);
  return (
    <Button minimal small aria-label={`Copy ${props.what}`} title={`Copy ${props.what}`}
      onClick={() => {
        Clipboard.copyToSystem(props.text);
        setCopied(true);
        window.setTimeout(() => setCopied(false), 1500);
      }}>
      <copyIcon.react tag="span" /> {copied ? 'Copied' : 'Copy'}
    </Button>
  );
}

function Snippet(props: { label: string; text: string }): JSX.Element {
  return (
    <div className="jp-MerlinDetails-snippet">
      <div className="jp-MerlinDetails-snippetHeader">
        <span>{props.label}</span>
        <CopyButton text={props.text} what={`${props.label} snippet`} />
      </div>
      <pre aria-label={`${props.label} snippet`}>{props.text}</pre>
    </div>
  );
}

function Settings(props: { endpoint: IVersionEndpoint }): JSX.Element {
  const e = props.endpoint;
  const r = e.resource_request;
  const parts = [
    `replicas ${r.min_replica ?? '?'}–${r.max_replica ?? '?'}`,
    r.cpu_request && `cpu ${r.cpu_request}`,
    r.memory_request && `memory ${r.memory_request}`,
    e.deployment_mode,
    e.autoscaling_policy && `autoscaling ${e.autoscaling_policy.metrics_type} ${e.autoscaling_policy.target_value}`,
    ...e.env_vars.map(v => `${v.name}=${v.value}`)
  ].filter(Boolean);
  return (
    <>
      <div className="jp-MerlinDetails-settings">{parts.join(' · ')}</div>
      <Serving endpoint={e} />
    </>
  );
}

/** How a local endpoint runs now, and the settings this environment does not enforce. */
export function Serving(props: { endpoint: IVersionEndpoint }): JSX.Element | null {
  const s = props.endpoint.serving;
  if (!s) {
    return null;
  }
  const live = props.endpoint.status === 'running' || props.endpoint.status === 'serving';
  let now = '';
  if (live && s.scaled_to_zero) {
    now = 'Scaled to zero: no worker runs; the next request wakes one and is answered.';
  } else if (live && s.workers !== undefined) {
    now = `${s.workers} worker${s.workers === 1 ? '' : 's'} running (${s.min_workers ?? '?'}–${s.max_workers ?? '?'}).`;
  }
  return (
    <div className="jp-MerlinDetails-serving" aria-label="How it runs">
      {now && <div className="jp-MerlinField-hint">{now}{s.last_wake ? ` Last woken ${s.last_wake}.` : ''}</div>}
      {(s.unenforced ?? []).map(note => (
        <div key={note} className="jp-MerlinField-hint" role="note">Not enforced here: {note}</div>
      ))}
    </div>
  );
}

/** Why the request box cannot send now, by the endpoint's status. */
export function notAnswering(endpoint: IVersionEndpoint | null): string {
  switch (endpoint?.status) {
    case 'terminated':
      return 'This endpoint was undeployed: its URL no longer answers.';
    case 'failed':
      return 'This endpoint failed to deploy: its reason is above and in the logs.';
    default:
      return 'The endpoint answers once it is running.';
  }
}

function TryIt(props: IEndpointDetailsProps & { body: string | null; setBody: (body: string) => void }): JSX.Element {
  const { body, setBody } = props;
  const [result, setResult] = React.useState<ITryResult | null>(null);
  const [failure, setFailure] = React.useState<string | null>(null);
  const [sending, setSending] = React.useState(false);
  const text = body ?? props.example ?? '';
  const invalid = text ? bodyError(text) : null;
  const up = props.endpoint?.status === 'running' || props.endpoint?.status === 'serving';
  const send = async () => {
    setSending(true);
    setFailure(null);
    try {
      setResult(await props.tryIt(text));
    } catch (error) {
      setResult(null);
      setFailure(describeError(error));
    } finally {
      setSending(false);
    }
  };
  return (
    <section className="jp-MerlinDetails-try" aria-labelledby="merlin-try-heading">
      <h3 id="merlin-try-heading">Try it</h3>
      <textarea aria-label="Request body (JSON)" className="jp-MerlinDetails-body" spellCheck={false}
        value={text} rows={5} onChange={e => setBody(e.currentTarget.value)} />
      {invalid && <div className="jp-MerlinField-error" role="alert">{invalid}</div>}
      <div className="jp-MerlinDetails-tryBar">
        <Button className="jp-MerlinDetails-send" disabled={!up || !!invalid || sending || !text} onClick={send}>
          <runIcon.react tag="span" /> {sending ? 'Sending…' : 'Send'}
        </Button>
        {!up && <span className="jp-MerlinField-hint">{notAnswering(props.endpoint)}</span>}
        {result && (
          <span className={`jp-MerlinDetails-status${result.status < 400 ? ' jp-mod-ok' : ' jp-mod-error'}`} aria-live="polite">
            {result.status} {result.statusText} · {Math.round(result.latency)} ms
          </span>
        )}
      </div>
      {failure && <div className="jp-MerlinField-error" role="alert">{failure}</div>}
      {result && <pre className="jp-MerlinDetails-response" aria-label="Response">{result.body}</pre>}
    </section>
  );
}

/** One logged body, shortened for its cell (the whole text is its tooltip). */
function BodyCell(props: { text: string | null; mode: string }): JSX.Element {
  if (props.text === null) {
    return <td className="jp-MerlinField-hint">{props.mode}</td>;
  }
  const short = props.text.length > 120 ? props.text.slice(0, 117) + '…' : props.text;
  return <td title={props.text}><code>{short}</code></td>;
}

export function Requests(props: { endpoint: IVersionEndpoint; requests: ILoggedRequest[]; error: string | null }): JSX.Element {
  const [only, setOnly] = React.useState<'all' | 'errors'>('all');
  const logger = props.endpoint.logger?.model;
  const shown = only === 'errors' ? props.requests.filter(r => r.status >= 400) : props.requests;
  if (!logger?.enabled && !props.requests.length) {
    return (
      <div className="jp-MerlinField-hint">
        This endpoint does not log requests. Redeploy it with request logging on (or
        {' '}<code>%merlin deploy {props.endpoint.version_id} --log-requests all</code>) to see them here.
      </div>
    );
  }
  return (
    <>
      <div className="jp-MerlinDetails-requestsBar">
        <label htmlFor="merlin-requests-only">Show</label>
        <HTMLSelect id="merlin-requests-only" value={only}
          options={[{ value: 'all', label: 'all requests' }, { value: 'errors', label: 'errors only' }]}
          onChange={e => setOnly(e.currentTarget.value as 'all' | 'errors')} />
        <span className="jp-MerlinField-hint">
          {logger?.enabled
            ? `logging ${logger.mode === 'all' ? 'requests and responses' : logger.mode + 's'}` +
              (logger.sample_rate !== undefined && logger.sample_rate < 1 ? `, ${Math.round(logger.sample_rate * 100)} % of them` : '')
            : 'logging is off now'}
          {` · the latest ${props.requests.length}`}
        </span>
      </div>
      {props.error && <div className="jp-MerlinField-error" role="alert">{props.error}</div>}
      {shown.length ? (
        <table className="jp-MerlinDetails-events jp-MerlinDetails-requests" aria-label="Logged requests">
          <thead><tr><th>when</th><th>status</th><th>ms</th><th>via</th><th>request</th><th>response</th></tr></thead>
          <tbody>
            {shown.map(r => (
              <tr key={r.id} className={r.status >= 400 ? 'jp-mod-error' : undefined}>
                <td title={r.time}>{new Date(r.time).toLocaleTimeString()}</td>
                <td>{r.status}</td>
                <td>{r.latency_ms.toFixed(1)}</td>
                <td title={`version ${r.version}, request id ${r.id}`}>{r.route === 'direct' ? 'URL' : r.route === 'model_endpoint' ? 'model' : 'mirror'}</td>
                <BodyCell text={r.request} mode="not logged" />
                <BodyCell text={r.response} mode="not logged" />
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-MerlinField-hint">{only === 'errors' ? 'No failed requests among them.' : 'No requests logged yet.'}</div>
      )}
    </>
  );
}

/** The right column's tabs: the server's live logs, or its logged requests. */
function LogTabs(props: IEndpointDetailsProps & { endpoint: IVersionEndpoint }): JSX.Element {
  const [tab, setTab] = React.useState<'logs' | 'requests'>('logs');
  const tabs: [typeof tab, string][] = [['logs', 'Logs'], ['requests', 'Requests']];
  return (
    <section className="jp-MerlinDetails-tabs">
      <div role="tablist" aria-label="Server output" className="jp-MerlinDetails-tabBar">
        {tabs.map(([id, label]) => (
          <button key={id} id={`merlin-tab-${id}`} role="tab" aria-selected={tab === id}
            aria-controls={`merlin-tabpanel-${id}`} tabIndex={tab === id ? 0 : -1}
            className={`jp-MerlinDetails-tab${tab === id ? ' jp-mod-active' : ''}`}
            onClick={() => setTab(id)}
            onKeyDown={e => {
              if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                const next = tab === 'logs' ? 'requests' : 'logs';
                setTab(next);
                document.getElementById(`merlin-tab-${next}`)?.focus();
              }
            }}>
            {label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`merlin-tabpanel-${tab}`} aria-labelledby={`merlin-tab-${tab}`}>
        {tab === 'logs'
          ? <Logs logs={props.logs} />
          : <Requests endpoint={props.endpoint} requests={props.requests ?? []} error={props.requestsError ?? null} />}
      </div>
    </section>
  );
}

function Logs(props: { logs: string[] }): JSX.Element {
  const ref = React.useRef<HTMLPreElement>(null);
  const pinned = React.useRef(true);
  React.useEffect(() => {
    // Stay at the newest line unless the reader scrolled up to read an older one.
    if (ref.current && pinned.current) {
      ref.current.scrollTop = ref.current.scrollHeight;
    }
  }, [props.logs]);
  return (
    <section aria-labelledby="merlin-logs-heading">
      <h3 id="merlin-logs-heading">Logs <span className="jp-MerlinField-hint">(live, last 200 lines)</span></h3>
      <pre ref={ref} className="jp-MerlinDetails-logs" tabIndex={0} aria-label="Model server logs"
        onScroll={e => {
          const el = e.currentTarget;
          pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 20;
        }}>
        {props.logs.length ? props.logs.join('\n') : 'No output yet.'}
      </pre>
    </section>
  );
}

function Events(props: { events: IMerlinEvent[] }): JSX.Element {
  return (
    <section aria-labelledby="merlin-events-heading">
      <h3 id="merlin-events-heading">Recent events</h3>
      {props.events.length ? (
        <table className="jp-MerlinDetails-events">
          <thead><tr><th>when</th><th>who</th><th>what</th></tr></thead>
          <tbody>
            {props.events.map(e => (
              <tr key={e.id}>
                <td>{new Date(e.created_at).toLocaleTimeString()}</td>
                <td>{e.actor}</td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div className="jp-MerlinField-hint">No events yet.</div>
      )}
    </section>
  );
}

/** An endpoint's page: status and reason, URLs, snippets, a request box, logs and events. */
export function EndpointDetails(props: IEndpointDetailsProps): JSX.Element {
  const e = props.endpoint;
  const url = e?.url ?? '';
  // What is typed in the request box (once something is), so the snippets send the same.
  const [typed, setTyped] = React.useState<string | null>(null);
  const body = typed ?? props.example ?? '{"instances": [[0.5, 0.5, 0.5, 0.5]]}';
  return (
    <div className="jp-MerlinDetails">
      <header className="jp-MerlinDetails-header">
        {e && <StatusBadge status={e.status} message={e.message} />}
        <h2>{props.title}</h2>
        {e && <span className="jp-MerlinTree-meta">revision {e.revision ?? 1} · {e.id}</span>}
      </header>
      {props.error && <div className="jp-MerlinPanel-error" role="alert">{props.error}</div>}
      {e?.message && (
        <div className={e.status === 'failed' ? 'jp-MerlinPanel-error' : 'jp-MerlinDetails-message'} role="status">
          {e.message}
        </div>
      )}
      {e && <MetricsCharts points={props.metrics ?? []} label="Metrics, last 15 minutes" />}
      {e && (
        <div className="jp-MerlinDetails-grid">
          <div>
            <section aria-labelledby="merlin-url-heading">
              <h3 id="merlin-url-heading">URL</h3>
              {url ? (
                <>
                  <div className="jp-MerlinDetails-url"><code>{url}</code><CopyButton text={url} what="URL" /></div>
                  {props.proxyUrl && (
                    <div className="jp-MerlinDetails-url">
                      <code>{props.proxyUrl}</code>
                      <CopyButton text={props.proxyUrl} what="URL through Jupyter" />
                    </div>
                  )}
                  <div className="jp-MerlinField-hint">The second URL goes through Jupyter and needs its token (Authorization: token …).</div>
                </>
              ) : (
                <div className="jp-MerlinField-hint">
                  {e.status === 'failed' ? 'No URL: the deploy failed.' : `No URL yet: the endpoint is ${e.status}.`}
                </div>
              )}
              <Settings endpoint={e} />
            </section>
            <TryIt {...props} body={typed} setBody={setTyped} />
            {url && <Snippet label="curl" text={curlSnippet(url, body)} />}
            {url && <Snippet label="Python" text={pythonSnippet(url, body)} />}
          </div>
          <div>
            <LogTabs {...props} endpoint={e} />
            <Events events={props.events} />
          </div>
        </div>
      )}
    </div>
  );
}
