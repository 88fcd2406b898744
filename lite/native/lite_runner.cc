// lite_runner: a Paddle Lite light-API process driven over stdin/stdout.
//
// One launch loads one .nb and then evaluates any number of inputs, so the
// cost of starting an emulated ARM process is paid once per model, not once
// per sample. Protocol (all integers little-endian):
//   runner -> "READY <lite version>\t<input names,>\t<output names,>\n"
//   host   -> "RUN <n>\n" then n tensors:  int32 rank, int64 dims[rank], float32 data
//   runner -> "OK <m>\n" then m tensors:   char dtype ('f','i','l'), int32 rank,
//                                           int64 dims[rank], data
//   host   -> "BENCH <warmup> <repeats>\n" (reruns the inputs last given to RUN)
//   runner -> "OK <repeats>\n" then repeats float64 milliseconds
//   host   -> "QUIT\n"
//   runner -> "ERROR <message>\n" on any failure (the process stays usable)
// Around every RUN and every timed BENCH repeat the runner makes a marker syscall,
// write(-1, buf, MARK_LEN), that fails harmlessly with EBADF; the project's
// qemu plugin records its instruction counter at each marker.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include "paddle_api.h"

using namespace paddle::lite_api;  // NOLINT

static const size_t kMarkLen = 0x4c495445;  // "LITE": never a real write length
static FILE* g_out = nullptr;               // protocol channel (the original stdout)

static void mark() {
  // A raw syscall, so no libc wrapper checks the (never read) buffer length.
  static char dummy[1];
  syscall(SYS_write, -1, dummy, kMarkLen);
}

static bool read_exact(void* p, size_t n) { return fread(p, 1, n, stdin) == n; }

static void reply_error(const std::string& msg) {
  std::string m = msg;
  for (auto& c : m) if (c == '\n') c = ' ';
  fprintf(g_out, "ERROR %s\n", m.c_str());
  fflush(g_out);
}

static std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

static void write_tensor(const Tensor& t) {
  shape_t shape = t.shape();
  int64_t n = 1;
  for (auto d : shape) n *= d;
  char dtype;
  const void* data;
  size_t elem;
  switch (t.precision()) {
    case PrecisionType::kInt32: dtype = 'i'; elem = 4; data = t.data<int32_t>(); break;
    case PrecisionType::kInt64: dtype = 'l'; elem = 8; data = t.data<int64_t>(); break;
    default: dtype = 'f'; elem = 4; data = t.data<float>(); break;
  }
  int32_t rank = static_cast<int32_t>(shape.size());
  fwrite(&dtype, 1, 1, g_out);
  fwrite(&rank, 4, 1, g_out);
  for (auto d : shape) { int64_t v = d; fwrite(&v, 8, 1, g_out); }
  if (n > 0) fwrite(data, elem, n, g_out);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL.nb [threads] [power_mode]\n", argv[0]);
    return 2;
  }
  // Keep the protocol channel private: Paddle Lite's logging must not mix into it.
  int proto_fd = dup(1);
  dup2(2, 1);
  g_out = fdopen(proto_fd, "w");
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  int power = argc > 3 ? atoi(argv[3]) : 3;  // LITE_POWER_NO_BIND

  std::shared_ptr<PaddlePredictor> predictor;
  std::vector<std::string> in_names, out_names;
  try {
    MobileConfig config;
    config.set_model_from_file(argv[1]);
    config.set_threads(threads);
    config.set_power_mode(static_cast<PowerMode>(power));
    predictor = CreatePaddlePredictor<MobileConfig>(config);
    in_names = predictor->GetInputNames();
    out_names = predictor->GetOutputNames();
  } catch (const std::exception& e) {
    reply_error(std::string("load failed: ") + e.what());
    return 3;
  }
  if (!predictor) {
    reply_error("load failed");
    return 3;
  }
  fprintf(g_out, "READY %s\t%s\t%s\n", predictor->GetVersion().c_str(), join(in_names).c_str(),
          join(out_names).c_str());
  fflush(g_out);

  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    std::istringstream cmd(line);
    std::string verb;
    cmd >> verb;
    try {
      if (verb == "QUIT") break;
      if (verb == "RUN") {
        int n = 0;
        cmd >> n;
        bool ok = true;
        for (int i = 0; i < n && ok; ++i) {
          int32_t rank = 0;
          ok = read_exact(&rank, 4) && rank >= 0 && rank < 16;
          shape_t shape(ok ? rank : 0);
          int64_t count = 1;
          for (int k = 0; ok && k < rank; ++k) {
            ok = read_exact(&shape[k], 8);
            count *= shape[k];
          }
          if (!ok) break;
          std::vector<float> buf(count);
          ok = read_exact(buf.data(), count * 4);
          if (!ok) break;
          if (i >= static_cast<int>(in_names.size())) continue;  // reported below
          auto t = predictor->GetInput(i);
          t->Resize(shape);
          memcpy(t->mutable_data<float>(), buf.data(), count * 4);
        }
        if (!ok) { reply_error("truncated input tensor"); return 4; }
        if (n != static_cast<int>(in_names.size())) {
          reply_error("model has " + std::to_string(in_names.size()) + " inputs, got " +
                      std::to_string(n));
          continue;
        }
        mark();  // every run is counted too, so a pipeline can charge each stage its own cost
        predictor->Run();
        mark();
        fprintf(g_out, "OK %zu\n", out_names.size());
        for (size_t i = 0; i < out_names.size(); ++i) write_tensor(*predictor->GetOutput(i));
        fflush(g_out);
      } else if (verb == "BENCH") {
        int warmup = 0, repeats = 1;
        cmd >> warmup >> repeats;
        for (int i = 0; i < warmup; ++i) predictor->Run();
        std::vector<double> ms(repeats);
        for (int i = 0; i < repeats; ++i) {
          mark();
          auto t0 = std::chrono::steady_clock::now();
          predictor->Run();
          auto t1 = std::chrono::steady_clock::now();
          mark();
          ms[i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
        }
        fprintf(g_out, "OK %d\n", repeats);
        fwrite(ms.data(), 8, repeats, g_out);
        fflush(g_out);
      } else {
        reply_error("unknown command " + verb);
      }
    } catch (const std::exception& e) {
      reply_error(e.what());
    }
  }
  return 0;
}
