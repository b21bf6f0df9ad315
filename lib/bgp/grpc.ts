import type * as GrpcModule from "@grpc/grpc-js";
import type * as ProtoLoaderModule from "@grpc/proto-loader";
import { runtimeRequire } from "../runtime-require";

/** @grpc/grpc-js, loaded from node_modules when BGP starts (see runtimeRequire for why). */
export const loadGrpc = (): typeof GrpcModule =>
  runtimeRequire("@grpc/grpc-js") as typeof GrpcModule;

export const loadProtoLoader = (): typeof ProtoLoaderModule =>
  runtimeRequire("@grpc/proto-loader") as typeof ProtoLoaderModule;
