# The GPU lease broker: `docker build -f docker/lease-broker.Dockerfile -t iqa-lease-broker:latest .`
# run: docker run -p 127.0.0.1:8470:8470 -e GPU_LEASE_REDIS_URL=redis://redis:6379/0 iqa-lease-broker:latest
# (docker-compose.yml starts it with Redis and the sidecar). The broker needs no GPU itself: it
# arbitrates the GPUs named in its config (docker/conf/broker.json: gpu 0, whole device).

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
# The reactor needs every module's pom; the broker needs its own sources and those of the modules
# it depends on (protocol, server-kit). DeploymentFilesIT (demo) checks this list against the poms.
COPY pom.xml ./
COPY protocol/pom.xml protocol/
COPY server-kit/pom.xml server-kit/
COPY lease-broker/pom.xml lease-broker/
COPY sidecar/pom.xml sidecar/
COPY client-lib/pom.xml client-lib/
COPY gpu-holder/pom.xml gpu-holder/
COPY iqa-cli/pom.xml iqa-cli/
COPY demo/pom.xml demo/
COPY bench/pom.xml bench/
COPY test-kit/pom.xml test-kit/
COPY simulator/pom.xml simulator/
RUN mvn -B -ntp -q -pl lease-broker -am dependency:go-offline || true
COPY protocol/src protocol/src
COPY test-kit/src test-kit/src
COPY server-kit/src server-kit/src
COPY lease-broker/src lease-broker/src
RUN mvn -B -ntp -DskipTests -pl lease-broker -am package

FROM eclipse-temurin:17-jre-jammy
RUN useradd --system --uid 10001 --home-dir /app iqa && mkdir -p /data && chown iqa /data
WORKDIR /app
COPY --from=build /src/lease-broker/target/lease-broker.jar /app/lease-broker.jar
COPY docker/conf/broker.json /app/conf/broker.json
USER iqa
# The state file of the memory store (with the Redis store: unused).
VOLUME /data
EXPOSE 8470
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/lease-broker.jar"]
CMD ["--conf", "/app/conf/broker.json"]
