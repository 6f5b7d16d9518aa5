# The IQA sidecar on CPU: `docker build -f docker/sidecar.Dockerfile -t iqa-sidecar:latest .`
# for amd64 and arm64: docker buildx build --platform linux/amd64,linux/arm64 -f docker/sidecar.Dockerfile .
#           (Maven runs on the build machine's platform and packs the natives of the target's)
# serve:    docker run -p 8471:8471 iqa-sidecar:latest
# one-shot: docker run --rm -v "$PWD/photos:/in:ro" iqa-sidecar:latest score /in/a.jpg /in/b.jpg
#           (what the client's container fallback runs; JSON lines on stdout, logs on stderr)

FROM --platform=$BUILDPLATFORM maven:3.9-eclipse-temurin-17 AS build
# The image's platform (buildx sets it; a plain docker build: the machine's own).
ARG TARGETARCH
WORKDIR /src
# The reactor needs every module's pom; the sidecar and the modules it depends on need sources:
# protocol, server-kit, the client library (its lease client), the broker (a test dependency,
# compiled but not run with -DskipTests). DeploymentFilesIT (demo) checks this list against the poms.
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
RUN mvn -B -ntp -q -pl sidecar -am dependency:go-offline || true
COPY protocol/src protocol/src
COPY test-kit/src test-kit/src
COPY server-kit/src server-kit/src
COPY lease-broker/src lease-broker/src
COPY client-lib/src client-lib/src
COPY gpu-holder/src gpu-holder/src
COPY sidecar/src sidecar/src
ARG MAVEN_PROFILES=""
RUN case "${TARGETARCH:-$(uname -m)}" in \
      arm64|aarch64) platform=linux-arm64 ;; \
      *) platform=linux-x86_64 ;; \
    esac \
 && mvn -B -ntp -DskipTests ${MAVEN_PROFILES} -Djavacpp.platform="$platform" -pl sidecar -am package

FROM eclipse-temurin:17-jre-jammy
RUN useradd --system --uid 10001 --home-dir /app iqa
WORKDIR /app
COPY --from=build /src/sidecar/target/lib/ /app/lib/
COPY --from=build /src/sidecar/target/iqa-sidecar.jar /app/iqa-sidecar.jar
# The container config: the broker by its service name (lease-broker), listening beyond loopback.
COPY docker/conf/sidecar.json /app/conf/sidecar.json
USER iqa
EXPOSE 8471
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/iqa-sidecar.jar"]
CMD ["serve", "--conf", "/app/conf/sidecar.json"]
