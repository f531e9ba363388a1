// A minimal typed client, as an app team would write it over the generated
// documents: variables and results are checked by `tsc --strict`.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import {
  HomeDocument,
  LogInDocument,
  RecordPurchaseDocument,
  type ErrorCode,
  type HomeQuery,
} from "./generated/graphql";

export class ApiError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export async function request<Result, Variables>(
  url: string,
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  token?: string,
): Promise<Result> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as {
    data?: Result;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const first = body.errors?.[0];
  if (first) {
    // Top-level errors always carry extensions.code (api/errors.py).
    throw new ApiError(first.extensions?.code ?? "INTERNAL", first.message);
  }
  if (body.data === undefined) throw new ApiError("INTERNAL", "no data");
  return body.data;
}

export async function logIn(url: string, email: string, password: string): Promise<string> {
  const { logIn } = await request(url, LogInDocument, { input: { email, password } });
  const refused = logIn.errors[0];
  if (refused) throw new ApiError(refused.code, refused.message);
  if (logIn.accessToken === null) throw new ApiError("INTERNAL", "no token");
  return logIn.accessToken;
}

/** What the home screen shows, from the typed result. */
export function summary(home: HomeQuery): string {
  const me = home.me;
  if (me === null) return "signed out";
  const expiry = me.points.nextExpiry;
  const expiring = expiry ? `, ${expiry.points} expire on ${new Date(expiry.expiresAt).toDateString()}` : "";
  const lines = me.history.edges.map(({ node }) => `${node.occurredAt} ${node.kind} ${node.points}`);
  return [`${me.firstName}: ${me.points.available} points${expiring}`, ...lines].join("\n");
}

export async function home(url: string, token: string): Promise<string> {
  return summary(await request(url, HomeDocument, {}, token));
}

export async function earn(
  url: string,
  cashierToken: string,
  qrPayload: string,
  storeId: string,
  amountMinor: number,
): Promise<number | ErrorCode> {
  const key = crypto.randomUUID();
  const { recordPurchase } = await request(
    url,
    RecordPurchaseDocument,
    {
      input: {
        idempotencyKey: key,
        receiptId: key,
        card: { qrPayload },
        storeId,
        total: { amountMinor, currency: "EUR" },
      },
    },
    cashierToken,
  );
  const refused = recordPurchase.errors[0];
  return refused ? refused.code : recordPurchase.transaction?.points ?? 0;
}
