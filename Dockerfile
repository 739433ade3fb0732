# Same steps as the README's build: Debian with libclang for the rocksdb crate, a release build,
# then a small runtime image with only the binary.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev clang && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gregor

FROM debian:bookworm-slim
COPY --from=build /src/target/release/gregor /usr/local/bin/gregor
WORKDIR /var/lib/gregor
EXPOSE 9092
ENTRYPOINT ["/usr/local/bin/gregor"]
CMD ["--override", "log.dirs=/var/lib/gregor/data"]
