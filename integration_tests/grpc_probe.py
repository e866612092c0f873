#!/usr/bin/python3
"""Talks to a server the way grpcurl does, without our generated stubs.

    grpc_probe.py ADDRESS list                 services listed by reflection
    grpc_probe.py ADDRESS describe SYMBOL      resolve SYMBOL (service or
                                               message) through reflection,
                                               print its file's name and the
                                               service methods
    grpc_probe.py ADDRESS health [SERVICE]     grpc.health.v1 Check, prints
                                               the serving status
    grpc_probe.py ADDRESS call SERVICE/METHOD [JSON]
                                               calls a unary or server-
                                               streaming method; request
                                               and response types come from
                                               reflection, the request is
                                               JSON (default {}), each
                                               response is printed as JSON
                                               (like grpcurl -d JSON ADDRESS
                                               SERVICE/METHOD)

TLS like grpcurl: options before ADDRESS, `-cacert CA.pem` (server
verified against it) and `-cert CERT.pem -key KEY.pem` (client certificate
for mutual TLS), e.g.

    grpc_probe.py -cacert ca.pem -cert admin.pem -key admin.key \
        127.0.0.1:9702 call vitrage.v1.Graph/GetStatus

Uses Debian's python3-grpcio and stubs made at run time by protoc from
/usr/share/grpc-proto (reflection v1alpha and health v1), the same
descriptors grpcurl uses. `call` builds the request and response classes
from the FileDescriptorProtos the server returns (protobuf's descriptor_pool
and message_factory), as grpcurl does. Exits 1 with a message on any RPC
error.
"""
import os
import subprocess
import sys
import tempfile

GRPC_PROTO = '/usr/share/grpc-proto'


def load_stubs():
    out = tempfile.mkdtemp(prefix='grpc-probe-')
    subprocess.run(['protoc', '--proto_path=' + GRPC_PROTO,
                    '--python_out=' + out,
                    'grpc/reflection/v1alpha/reflection.proto',
                    'grpc/health/v1/health.proto'], check=True)
    for d in ('grpc', 'grpc/reflection', 'grpc/reflection/v1alpha',
              'grpc/health', 'grpc/health/v1'):
        open(os.path.join(out, d, '__init__.py'), 'a').close()
    # Our generated package is named "grpc" like grpcio: load the modules
    # by path instead of through sys.path.
    import importlib.util

    def load(name, rel):
        spec = importlib.util.spec_from_file_location(name, os.path.join(out, rel))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    refl = load('reflection_pb2', 'grpc/reflection/v1alpha/reflection_pb2.py')
    health = load('health_pb2', 'grpc/health/v1/health_pb2.py')
    return refl, health


def reflection_call(channel, refl):
    return channel.stream_stream(
        '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
        request_serializer=refl.ServerReflectionRequest.SerializeToString,
        response_deserializer=refl.ServerReflectionResponse.FromString)


def load_pool(channel, refl, symbol):
    """A DescriptorPool with the file that defines `symbol` and every file it
    imports, all fetched through reflection."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    call = reflection_call(channel, refl)
    files = {}

    def fetch(req):
        for resp in call(iter([req]), timeout=10):
            if resp.HasField('error_response'):
                raise LookupError(resp.error_response.error_message)
            for raw in resp.file_descriptor_response.file_descriptor_proto:
                fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
                files.setdefault(fd.name, fd)

    fetch(refl.ServerReflectionRequest(file_containing_symbol=symbol))
    missing = True
    while missing:
        missing = [d for fd in list(files.values()) for d in fd.dependency
                   if d not in files]
        for name in missing:
            fetch(refl.ServerReflectionRequest(file_by_filename=name))
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name):
        if name in added:
            return
        for dep in files[name].dependency:
            add(dep)
        pool.Add(files[name])
        added.add(name)
    for name in files:
        add(name)
    return pool


def message_class(pool, full_name):
    from google.protobuf import message_factory
    desc = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, 'GetMessageClass'):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def call_method(channel, refl, target, request_json):
    from google.protobuf import json_format
    service, _, method = target.replace('/', ' ').rpartition(' ')
    if not service or not method:
        print('error: expected SERVICE/METHOD, got %r' % target)
        return 1
    try:
        pool = load_pool(channel, refl, service)
        md = pool.FindServiceByName(service).FindMethodByName(method)
    except (LookupError, KeyError) as e:
        print('error: %s: %s' % (target, e))
        return 1
    if md is None or md.client_streaming:
        print('error: %s: not a unary or server-streaming method' % target)
        return 1
    req_cls = message_class(pool, md.input_type.full_name)
    resp_cls = message_class(pool, md.output_type.full_name)
    request = json_format.Parse(request_json, req_cls())
    path = '/%s/%s' % (service, method)
    kwargs = dict(request_serializer=lambda m: m.SerializeToString(),
                  response_deserializer=resp_cls.FromString)
    if md.server_streaming:
        responses = channel.unary_stream(path, **kwargs)(request, timeout=60)
    else:
        responses = [channel.unary_unary(path, **kwargs)(request, timeout=60)]
    for resp in responses:
        print(json_format.MessageToJson(resp))
    return 0


def make_channel(grpc, argv):
    """Consumes -cacert/-cert/-key from argv; returns the channel."""
    tls = {}
    while len(argv) > 1 and argv[1] in ('-cacert', '-cert', '-key'):
        if len(argv) < 3:
            sys.exit(__doc__)
        with open(argv[2], 'rb') as f:
            tls[argv[1]] = f.read()
        del argv[1:3]
    if not tls:
        return grpc.insecure_channel(argv[1])
    creds = grpc.ssl_channel_credentials(
        root_certificates=tls.get('-cacert'),
        private_key=tls.get('-key'),
        certificate_chain=tls.get('-cert'))
    return grpc.secure_channel(argv[1], creds)


def main(argv):
    import grpc
    from google.protobuf import descriptor_pb2
    argv = list(argv)
    if len(argv) < 3:
        sys.exit(__doc__)
    channel = make_channel(grpc, argv)
    if len(argv) < 3:
        sys.exit(__doc__)
    refl, health = load_stubs()
    verb = argv[2]
    try:
        if verb == 'call' and len(argv) > 3:
            return call_method(channel, refl, argv[3],
                               argv[4] if len(argv) > 4 else '{}')
        if verb in ('list', 'describe'):
            call = reflection_call(channel, refl)
            if verb == 'list':
                req = refl.ServerReflectionRequest(list_services='')
                for resp in call(iter([req]), timeout=10):
                    for s in resp.list_services_response.service:
                        print(s.name)
                return 0
            symbol = argv[3]
            req = refl.ServerReflectionRequest(file_containing_symbol=symbol)
            for resp in call(iter([req]), timeout=10):
                if resp.HasField('error_response'):
                    print('error: %s' % resp.error_response.error_message)
                    return 1
                files = resp.file_descriptor_response.file_descriptor_proto
                for raw in files[:1]:
                    fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
                    print('file %s' % fd.name)
                    for svc in fd.service:
                        full = '%s.%s' % (fd.package, svc.name)
                        if full == symbol:
                            for m in svc.method:
                                print('rpc %s' % m.name)
                    for msg in fd.message_type:
                        full = '%s.%s' % (fd.package, msg.name)
                        if full == symbol:
                            for f in msg.field:
                                print('field %s' % f.name)
            return 0
        if verb == 'health':
            call = channel.unary_unary(
                '/grpc.health.v1.Health/Check',
                request_serializer=health.HealthCheckRequest.SerializeToString,
                response_deserializer=health.HealthCheckResponse.FromString)
            service = argv[3] if len(argv) > 3 else ''
            resp = call(health.HealthCheckRequest(service=service), timeout=10)
            print(health.HealthCheckResponse.ServingStatus.Name(resp.status))
            return 0
        sys.exit(__doc__)
    except grpc.RpcError as e:
        print('rpc error: %s: %s' % (e.code().name, e.details()))
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
