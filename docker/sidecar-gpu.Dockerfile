# The IQA sidecar with CUDA: `docker build -f docker/sidecar-gpu.Dockerfile -t iqa-sidecar:gpu .`
# Built with -Pgpu (onnxruntime_gpu 1.22 and TensorFlow 2.18's linux-x86_64-gpu natives, both
# CUDA 12 + cuDNN 9). Run with --gpus all; without a usable GPU every model falls back to CPU and
# says so in the log and /health.

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
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
COPY protocol/src protocol/src
COPY test-kit/src test-kit/src
COPY server-kit/src server-kit/src
COPY lease-broker/src lease-broker/src
COPY client-lib/src client-lib/src
COPY gpu-holder/src gpu-holder/src
COPY sidecar/src sidecar/src
RUN mvn -B -ntp -DskipTests -Pgpu -pl sidecar -am package

FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app iqa
WORKDIR /app
COPY --from=build /src/sidecar/target/lib/ /app/lib/
COPY --from=build /src/sidecar/target/iqa-sidecar.jar /app/iqa-sidecar.jar
# The container config: the broker by its service name (lease-broker), listening beyond loopback.
COPY docker/conf/sidecar.json /app/conf/sidecar.json
USER iqa
EXPOSE 8471
ENTRYPOINT ["java", "-XX:+ExitOnOutOfMemoryError", "-jar", "/app/iqa-sidecar.jar"]
CMD ["serve", "--conf", "/app/conf/sidecar.json"]
