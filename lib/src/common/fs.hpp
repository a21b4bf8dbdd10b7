// Internal: POSIX file helpers with ocibake errors. Not installed.
#pragma once

#include "ocibake/error.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

namespace ocibake::detail {

/// Throws Error(kind) "<what>: <strerror(err)>".
[[noreturn]] void throw_errno(ErrorKind kind, const std::string& what, int err);

/// An owned file descriptor (closed on destruction).
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

/// open(2) that throws Error(kind) naming the path.
UniqueFd open_file(const std::filesystem::path& path, int flags, ErrorKind kind,
                   unsigned mode = 0644);

/// Writes everything (EINTR-safe); throws Error(io) naming `path`.
void write_all(int fd, const void* data, std::size_t size, std::string_view path);
/// One read(2), EINTR-safe; throws Error(kind) naming `path`.
std::size_t read_some(int fd, void* data, std::size_t size, std::string_view path,
                      ErrorKind kind = ErrorKind::io);
/// Opens a file that is to be read (whole or streamed) for reading. O_NONBLOCK, so that
/// opening a FIFO cannot block, then anything that is not a regular file (a FIFO, socket,
/// device or directory) is refused: reading one could block forever or never end. On
/// failure returns an empty fd and puts the reason in `why` ("No such file or directory",
/// "it is a FIFO, not a regular file").
UniqueFd open_regular(const std::filesystem::path& path, std::string& why);
/// open_regular() that throws Error(kind): "cannot open PATH: ..." (when open fails),
/// "cannot read PATH: it is a FIFO, not a regular file".
UniqueFd open_regular(const std::filesystem::path& path, ErrorKind kind);

/// Reads the rest of `fd` into `out`; false (and `out` incomplete) when it holds more than
/// max_size bytes. Read errors throw Error(kind) naming `path`.
bool read_all(int fd, const std::filesystem::path& path, ErrorKind kind, std::size_t max_size,
              std::string& out);
/// Whole small regular file (open_regular() + read_all()); Error(kind) if missing,
/// unreadable, not a regular file or larger than max_size.
std::string read_file(const std::filesystem::path& path, ErrorKind kind,
                      std::size_t max_size = 64 << 20);

/// fsync(2) with an Error(io).
void sync_fd(int fd, const std::filesystem::path& path);
/// fsync of a directory (makes a rename durable); errors ignored where unsupported.
void sync_dir(const std::filesystem::path& dir);

/// Writes `content` to `dest` atomically: temp file beside it, fsync (unless `durable`
/// is false: a crash may then leave the old content or an empty file), rename.
void atomic_write_file(const std::filesystem::path& dest, std::string_view content,
                       unsigned mode = 0644, bool durable = true);

/// A process's start time (field 22 of /proc/PID/stat, clock ticks since boot): with the
/// pid, it names one process even after the pid is reused. 0 when it does not run.
std::uint64_t process_start_time(int pid);
/// Whether process `pid` runs and started at `start_time` (process_start_time()).
bool process_alive(int pid, std::uint64_t start_time);
/// This boot's id, as /proc/sys/kernel/random/boot_id reads (a UUID and a newline; ""
/// where it cannot be read). Read once a process: a run needs it twice.
const std::string& boot_id();
/// Whether `path` is a mount point (listed in /proc/self/mountinfo).
bool is_mounted(const std::filesystem::path& path);

/// Random hex string (for temp names; never reaches output bytes).
std::string random_suffix();

/// A directory removed (recursively) on destruction unless released.
class TempDir {
public:
    explicit TempDir(std::filesystem::path path) : path_(std::move(path)) {}
    TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
    TempDir& operator=(TempDir&&) = delete;
    TempDir(const TempDir&) = delete;
    ~TempDir();
    const std::filesystem::path& path() const noexcept { return path_; }
    void release() noexcept { path_.clear(); }

private:
    std::filesystem::path path_;
};

/// Replaces `dest` (file or directory, may not exist) with `fresh` as atomically as the
/// file system allows: renameat2(RENAME_EXCHANGE) then removal of the old one.
void replace_path(const std::filesystem::path& fresh, const std::filesystem::path& dest);

/// Where an output (an OCI layout directory, a docker archive file) is written before it
/// replaces `target`: ".NAME.tmp-PID-RANDOM" beside it, held under flock(2) for as long as
/// this object lives. Creating one first removes the temps of earlier writers of the same
/// target that are gone (killed: their lock is free; see remove_stale_output_temps), never
/// one whose writer still runs. Removed on destruction unless release()d.
class OutputTemp {
public:
    enum class Kind { file, directory };
    OutputTemp(const std::filesystem::path& target, Kind kind);
    OutputTemp(OutputTemp&&) = delete;
    OutputTemp& operator=(OutputTemp&&) = delete;
    ~OutputTemp();
    const std::filesystem::path& path() const noexcept { return path_; }
    /// The open temp: for a file, opened for writing; for a directory, read-only. Holds
    /// the lock.
    int fd() const noexcept { return fd_.get(); }
    /// Moves the temp over the target (replace_path) and keeps it there.
    void commit(const std::filesystem::path& target);

private:
    std::filesystem::path path_;
    UniqueFd fd_;
    bool done_ = false;
};

/// Removes the temps ".NAME.tmp-PID-RANDOM" beside `target` whose writer is gone: their
/// lock is free (a writer holds it from just after creating the temp until it is swapped
/// in or removed) and process PID does not run (or the temp is 10 minutes old: the pid
/// was reused). Old-style ".NAME.tmp-RANDOM" ones (ocibake 0.1 took no lock) are removed
/// once untouched for an hour. Returns how many it removed.
std::size_t remove_stale_output_temps(const std::filesystem::path& target);

} // namespace ocibake::detail
