from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpeechRequest(_message.Message):
    __slots__ = ("wav_data",)
    WAV_DATA_FIELD_NUMBER: _ClassVar[int]
    wav_data: WavData
    def __init__(self, wav_data: _Optional[_Union[WavData, _Mapping]] = ...) -> None: ...

class SpeechResponse(_message.Message):
    __slots__ = ("status_code", "status_message", "result_data")
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RESULT_DATA_FIELD_NUMBER: _ClassVar[int]
    status_code: int
    status_message: str
    result_data: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, status_code: _Optional[int] = ..., status_message: _Optional[str] = ..., result_data: _Optional[_Iterable[str]] = ...) -> None: ...

class LanguageRequest(_message.Message):
    __slots__ = ("pinyins",)
    PINYINS_FIELD_NUMBER: _ClassVar[int]
    pinyins: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, pinyins: _Optional[_Iterable[str]] = ...) -> None: ...

class TextResponse(_message.Message):
    __slots__ = ("status_code", "status_message", "text_result")
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_RESULT_FIELD_NUMBER: _ClassVar[int]
    status_code: int
    status_message: str
    text_result: str
    def __init__(self, status_code: _Optional[int] = ..., status_message: _Optional[str] = ..., text_result: _Optional[str] = ...) -> None: ...

class WavData(_message.Message):
    __slots__ = ("samples", "sample_rate", "channels", "byte_width")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    BYTE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    samples: bytes
    sample_rate: int
    channels: int
    byte_width: int
    def __init__(self, samples: _Optional[bytes] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., byte_width: _Optional[int] = ...) -> None: ...
