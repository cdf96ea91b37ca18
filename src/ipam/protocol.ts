/**
 * The Docker IPAM remote-driver wire protocol (libnetwork `ipams/remote/api`): request and
 * response shapes with Docker's exact field names, and strict parsers for request bodies.
 * Docker sends compact JSON without a Content-Type; `Options` may be null, {} or populated.
 */
import { DaemonError } from '../errors.js';

/** Option keys Docker puts in RequestAddress (docker-ipam.md §2.6). */
export const OPTION_REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';
export const OPTION_MAC_ADDRESS = 'com.docker.network.endpoint.macaddress';
export const OPTION_ENDPOINT_NAME = 'com.docker.network.endpoint.name';
/** The RequestPool response `Data` key Docker reads the gateway from (CIDR). */
export const DATA_GATEWAY = 'com.docker.network.gateway';

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string>;
  V6: boolean;
}
export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}
export interface ReleasePoolRequest {
  PoolID: string;
}
export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string>;
}
export interface RequestAddressResponse {
  Address: string;
  Data: Record<string, string>;
}
export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}
export interface CapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}
export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

/** A request body Docker would never send: Docker shows the message as the call's error. */
export class BadRequestError extends DaemonError {
  override readonly name = 'BadRequestError';
  readonly code = 'BAD_REQUEST';
}

type Json = Record<string, unknown>;

/** Longest piece of a caller's input quoted back in an error (and so in our log). */
const PREVIEW_CHARS = 80;

/**
 * A short rendering of a bad value for an error message: the caller's input is echoed in the
 * reply and in the log, so a 512 KiB value must not come back whole.
 */
export function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? 'nothing';
  return text.length <= PREVIEW_CHARS ? text : `${text.slice(0, PREVIEW_CHARS)}… (${text.length} characters)`;
}

/** Parses a JSON object body; an empty or non-object body is a `BadRequestError`. */
export function parseBody(method: string, text: string): Json {
  if (text.trim() === '') throw new BadRequestError(`${method}: empty request body`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`${method}: request body is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequestError(`${method}: request body is not a JSON object`);
  return value as Json;
}

function str(method: string, body: Json, key: string, required = true): string {
  const v = body[key];
  if (v === undefined && !required) return '';
  if (typeof v !== 'string') throw new BadRequestError(`${method}: field ${key} must be a string, got ${preview(v)}`);
  return v;
}

function options(method: string, body: Json): Record<string, string> {
  const v = body.Options;
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new BadRequestError(`${method}: field Options must be an object or null`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Json)) {
    if (typeof val !== 'string') throw new BadRequestError(`${method}: option ${preview(k)} must be a string`);
    out[k] = val;
  }
  return out;
}

export function parseRequestPool(body: Json): RequestPoolRequest {
  const m = 'RequestPool';
  const v6 = body.V6 ?? false;
  if (typeof v6 !== 'boolean') throw new BadRequestError(`${m}: field V6 must be a boolean`);
  return {
    AddressSpace: str(m, body, 'AddressSpace', false),
    Pool: str(m, body, 'Pool', false),
    SubPool: str(m, body, 'SubPool', false),
    Options: options(m, body),
    V6: v6,
  };
}

export function parseReleasePool(body: Json): ReleasePoolRequest {
  return { PoolID: str('ReleasePool', body, 'PoolID') };
}

export function parseRequestAddress(body: Json): RequestAddressRequest {
  const m = 'RequestAddress';
  return { PoolID: str(m, body, 'PoolID'), Address: str(m, body, 'Address', false), Options: options(m, body) };
}

export function parseReleaseAddress(body: Json): ReleaseAddressRequest {
  const m = 'ReleaseAddress';
  return { PoolID: str(m, body, 'PoolID'), Address: str(m, body, 'Address') };
}
