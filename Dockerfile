# raftmq image: nothing but the static binary (no base image can be pulled
# here). Build the binary first: `make image` does both.
FROM scratch
COPY bin/raftmq /raftmq
VOLUME ["/data"]
EXPOSE 9000 9001 9002 9002/udp
ENTRYPOINT ["/raftmq", "serve", "--data-dir", "/data"]
