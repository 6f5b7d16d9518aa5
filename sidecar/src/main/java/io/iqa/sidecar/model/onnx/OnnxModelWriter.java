package io.iqa.sidecar.model.onnx;

import com.google.protobuf.ByteString;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.AttributeProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.GraphProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.ModelProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.NodeProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.OperatorSetIdProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.TensorProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.TensorShapeProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.TypeProto;
import io.iqa.sidecar.model.onnx.proto.OnnxProto.ValueInfoProto;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Writes small ONNX models (a graph of standard operators, float initializers) so the project can
 * make its own models: the default model set and test models, never a copied binary. Built with
 * the classes protoc generates from ONNX's own {@code onnx.proto} (src/main/proto); ONNX Runtime
 * loading the result is the proof it is well-formed.
 */
public final class OnnxModelWriter {

  /** ONNX TensorProto.DataType values used here. */
  public static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
  public static final int INT64 = TensorProto.DataType.INT64_VALUE;

  private final GraphProto.Builder graph;
  private int nodeCount;

  public OnnxModelWriter(String graphName) {
    this.graph = GraphProto.newBuilder().setName(graphName);
  }

  /** A graph input; a dimension of -1 is the symbolic batch size {@code N}. */
  public OnnxModelWriter input(String name, int elemType, long... dims) {
    graph.addInput(valueInfo(name, elemType, dims));
    return this;
  }

  public OnnxModelWriter output(String name, int elemType, long... dims) {
    graph.addOutput(valueInfo(name, elemType, dims));
    return this;
  }

  /** A constant float tensor, stored as little-endian raw data. */
  public OnnxModelWriter initializer(String name, long[] dims, float... values) {
    ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float v : values) {
      raw.putFloat(v);
    }
    return tensor(name, dims, FLOAT, raw.array());
  }

  /**
   * A constant int64 tensor (shapes, axes). Named apart from {@link #initializer} on purpose: as an
   * overload, integer literals meant as float weights would silently become int64.
   */
  public OnnxModelWriter int64Initializer(String name, long[] dims, long... values) {
    ByteBuffer raw = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
    for (long v : values) {
      raw.putLong(v);
    }
    return tensor(name, dims, INT64, raw.array());
  }

  private OnnxModelWriter tensor(String name, long[] dims, int dataType, byte[] raw) {
    TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(dataType)
        .setRawData(ByteString.copyFrom(raw));
    for (long d : dims) {
      t.addDims(d);
    }
    graph.addInitializer(t);
    return this;
  }

  public OnnxModelWriter node(String opType, List<String> in, List<String> out, Attribute... attributes) {
    NodeProto.Builder n = NodeProto.newBuilder().addAllInput(in).addAllOutput(out)
        .setName(opType.toLowerCase(Locale.ROOT) + "_" + nodeCount++).setOpType(opType);
    for (Attribute a : attributes) {
      n.addAttribute(a.proto);
    }
    graph.addNode(n);
    return this;
  }

  /** The whole model (IR version 8) for the default operator set at {@code opset}. */
  public byte[] toBytes(int opset) {
    return ModelProto.newBuilder()
        .setIrVersion(8)
        .setProducerName("iqa-sidecar")
        .setGraph(graph)
        .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
        .build().toByteArray();
  }

  public void write(Path file, int opset) throws IOException {
    Path parent = file.toAbsolutePath().getParent();
    if (parent != null) {
      Files.createDirectories(parent);
    }
    Files.write(file, toBytes(opset));
  }

  /** A node attribute. */
  public static final class Attribute {
    final AttributeProto proto;

    private Attribute(AttributeProto proto) {
      this.proto = proto;
    }

    public static Attribute ints(String name, long... values) {
      AttributeProto.Builder a = AttributeProto.newBuilder().setName(name)
          .setType(AttributeProto.AttributeType.INTS);
      for (long v : values) {
        a.addInts(v);
      }
      return new Attribute(a.build());
    }

    public static Attribute integer(String name, long value) {
      return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT)
          .setI(value).build());
    }

    public static Attribute real(String name, float value) {
      return new Attribute(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT)
          .setF(value).build());
    }
  }

  private static ValueInfoProto valueInfo(String name, int elemType, long... dims) {
    TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
    for (long d : dims) {
      shape.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
          : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
    }
    TypeProto type = TypeProto.newBuilder()
        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)).build();
    return ValueInfoProto.newBuilder().setName(name).setType(type).build();
  }
}
